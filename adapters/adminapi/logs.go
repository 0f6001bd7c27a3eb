package adminapi

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	sentinel "github.com/keyipsentinel/sentinel"
)

// InterceptDTO is one refused request (or one monitor mode let through).
type InterceptDTO struct {
	ID        int64     `json:"id"`
	BindingID string    `json:"binding_id" doc:"Id of the key's binding (it may have been removed since)."`
	KeyHint   string    `json:"key_hint" example:"sk-abcd…wxyz"`
	ClientIP  string    `json:"client_ip" example:"198.51.100.23"`
	Reason    string    `json:"reason" example:"ip_not_allowed"`
	Enforced  bool      `json:"enforced" doc:"False when monitor mode let the request through."`
	Method    string    `json:"method" example:"POST"`
	Path      string    `json:"path" example:"/v1/chat/completions"`
	UserAgent string    `json:"user_agent"`
	At        time.Time `json:"at"`
}

func toInterceptDTO(i sentinel.Intercept) InterceptDTO {
	return InterceptDTO{
		ID: i.ID, BindingID: i.Key.String(), KeyHint: i.Hint, ClientIP: addrText(i.ClientIP),
		Reason: string(i.Reason), Enforced: i.Enforced, Method: i.Method, Path: i.Path,
		UserAgent: i.UserAgent, At: i.At.UTC(),
	}
}

// LogFilter is the filter shared by the log list and its export.
type LogFilter struct {
	IP        string    `query:"ip" maxLength:"64" doc:"IP or CIDR of the client." example:"198.51.100.0/24"`
	BindingID string    `query:"binding_id" pattern:"^[0-9a-f]{64}$" doc:"Only this binding's key."`
	Reason    string    `query:"reason" enum:"ip_not_allowed,key_banned,multiple_keys,invalid_key,invalid_client_ip"`
	Since     time.Time `query:"since" doc:"RFC 3339; inclusive."`
	Until     time.Time `query:"until" doc:"RFC 3339; exclusive."`
}

func (l LogFilter) toDomain() (sentinel.InterceptFilter, error) {
	net, err := parseNet("query.ip", l.IP)
	if err != nil {
		return sentinel.InterceptFilter{}, err
	}
	f := sentinel.InterceptFilter{Net: net, Reason: sentinel.Reason(l.Reason), Since: l.Since, Until: l.Until}
	if l.BindingID != "" {
		k, err := parseID("query.binding_id", l.BindingID)
		if err != nil {
			return f, err
		}
		f.Key = &k
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, invalid("query.until", l.Until, sentinel.Errorf(sentinel.EINVALID, "until must not be before since"))
	}
	return f, nil
}

// ListLogsInput pages the intercept log.
type ListLogsInput struct {
	LogFilter
	Page     int `query:"page" default:"1" minimum:"1" maximum:"1000000"`
	PageSize int `query:"page_size" default:"20" minimum:"1" maximum:"1000"`
}

// InterceptPage is one page of intercepts.
type InterceptPage struct {
	Items    []InterceptDTO `json:"items" nullable:"false"`
	Total    int            `json:"total"`
	Page     int            `json:"page"`
	PageSize int            `json:"page_size"`
}

// ListLogsOutput is a page of intercepts.
type ListLogsOutput struct{ Body InterceptPage }

// ExportLogsInput filters the export.
type ExportLogsInput struct {
	LogFilter
}

func (s *Server) registerLogs() {
	tags := []string{"logs"}
	std := []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}
	huma.Register(s.api, huma.Operation{
		OperationID: "listLogs", Method: http.MethodGet, Path: Prefix + "/logs",
		Summary: "List refused requests", Tags: tags, Security: secured, Errors: std,
	}, s.listLogs)
	huma.Register(s.api, huma.Operation{
		OperationID: "exportLogs", Method: http.MethodGet, Path: Prefix + "/logs/export",
		Summary: "Export refused requests as CSV", Tags: tags, Security: secured, Errors: std,
		Description: "Streams every matching intercept, newest first, as UTF-8 CSV with a header row. " +
			"Cells starting with = + - @ tab or CR are prefixed with ' against spreadsheet formula injection.",
		Responses: map[string]*huma.Response{"200": {
			Description: "CSV",
			Content:     map[string]*huma.MediaType{"text/csv": {Schema: &huma.Schema{Type: "string"}}},
		}},
	}, s.exportLogs)
}

func (s *Server) listLogs(ctx context.Context, in *ListLogsInput) (*ListLogsOutput, error) {
	f, err := in.toDomain()
	if err != nil {
		return nil, err
	}
	f.Offset, f.Limit = (in.Page-1)*in.PageSize, in.PageSize
	is, total, err := s.opts.Intercepts.ListIntercepts(ctx, f)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := &ListLogsOutput{Body: InterceptPage{Items: make([]InterceptDTO, 0, len(is)), Total: total, Page: in.Page, PageSize: in.PageSize}}
	for _, i := range is {
		out.Body.Items = append(out.Body.Items, toInterceptDTO(i))
	}
	return out, nil
}

// csvHeader names the export's columns.
var csvHeader = []string{"id", "at", "binding_id", "key_hint", "client_ip", "reason", "enforced", "method", "path", "user_agent"}

func (s *Server) exportLogs(ctx context.Context, in *ExportLogsInput) (*huma.StreamResponse, error) {
	f, err := in.toDomain()
	if err != nil {
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
		hctx.SetHeader("Content-Disposition", `attachment; filename="sentinel-intercepts.csv"`)
		hctx.SetHeader("Cache-Control", "no-store")
		w := csv.NewWriter(hctx.BodyWriter())
		_ = w.Write(csvHeader)
		row := make([]string, len(csvHeader))
		n := 0
		err := s.opts.InterceptReport.EachIntercept(ctx, f, func(i sentinel.Intercept) error {
			row[0] = strconv.FormatInt(i.ID, 10)
			row[1] = i.At.UTC().Format(time.RFC3339Nano)
			row[2] = i.Key.String()
			row[3] = csvSafe(i.Hint)
			row[4] = addrText(i.ClientIP)
			row[5] = csvSafe(string(i.Reason))
			row[6] = strconv.FormatBool(i.Enforced)
			row[7] = csvSafe(i.Method)
			row[8] = csvSafe(i.Path)
			row[9] = csvSafe(i.UserAgent)
			if err := w.Write(row); err != nil {
				return err
			}
			if n++; n%1000 == 0 {
				w.Flush()
				return w.Error()
			}
			return nil
		})
		w.Flush()
		if err != nil {
			// The status is sent; all that is left is to cut the body short
			// and say why in the log.
			s.opts.Logger.WarnContext(ctx, "admin API: logs export cut short", "error", err, "rows", n)
		}
	}}, nil
}

// csvSafe neutralises a cell a spreadsheet would read as a formula.
func csvSafe(s string) string {
	// Spreadsheets skip leading spaces before a formula and read the
	// full-width forms of its signs (＝ ＋ － ＠) as the signs.
	t := strings.TrimLeft(s, " ")
	if t == "" {
		return s
	}
	switch r, _ := utf8.DecodeRuneInString(t); r {
	case '=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠':
		return "'" + s
	}
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }
