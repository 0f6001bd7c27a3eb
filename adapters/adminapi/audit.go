package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	sentinel "github.com/keyipsentinel/sentinel"
)

// AuditDTO is one audit log entry.
type AuditDTO struct {
	ID        int64     `json:"id"`
	SessionID string    `json:"session_id" doc:"The admin session that made the change."`
	ClientIP  string    `json:"client_ip"`
	Action    string    `json:"action" enum:"unbind,set_rule,ban,unban,settings,restore,webhook_test"`
	BindingID string    `json:"binding_id" doc:"The binding changed; empty for settings."`
	Before    any       `json:"before" doc:"State before the change (null when none)."`
	After     any       `json:"after" doc:"State after the change (null when removed)."`
	At        time.Time `json:"at"`
}

// ListAuditInput pages the audit log.
type ListAuditInput struct {
	Page     int       `query:"page" default:"1" minimum:"1" maximum:"1000000"`
	PageSize int       `query:"page_size" default:"20" minimum:"1" maximum:"1000"`
	Since    time.Time `query:"since" doc:"RFC 3339; inclusive."`
	Until    time.Time `query:"until" doc:"RFC 3339; exclusive."`
}

// AuditPage is one page of audit entries.
type AuditPage struct {
	Items    []AuditDTO `json:"items" nullable:"false"`
	Total    int        `json:"total"`
	Page     int        `json:"page"`
	PageSize int        `json:"page_size"`
}

// ListAuditOutput is a page of audit entries.
type ListAuditOutput struct{ Body AuditPage }

func (s *Server) registerAudit() {
	huma.Register(s.api, huma.Operation{
		OperationID: "listAudit", Method: http.MethodGet, Path: Prefix + "/audit",
		Summary: "List changes made through the admin API", Tags: []string{"audit"}, Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, s.listAudit)
}

func (s *Server) listAudit(ctx context.Context, in *ListAuditInput) (*ListAuditOutput, error) {
	if !in.Since.IsZero() && !in.Until.IsZero() && in.Until.Before(in.Since) {
		return nil, invalid("query.until", in.Until, sentinel.Errorf(sentinel.EINVALID, "until must not be before since"))
	}
	es, total, err := s.opts.Audit.ListAudit(ctx, sentinel.AuditFilter{
		Since: in.Since, Until: in.Until, Offset: (in.Page - 1) * in.PageSize, Limit: in.PageSize})
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := &ListAuditOutput{Body: AuditPage{Items: make([]AuditDTO, 0, len(es)), Total: total, Page: in.Page, PageSize: in.PageSize}}
	for _, e := range es {
		d := AuditDTO{ID: e.ID, SessionID: e.Actor, ClientIP: addrText(e.ClientIP), Action: string(e.Action), At: e.At.UTC()}
		if e.Action.ConcernsBinding() {
			d.BindingID = e.Target
		}
		d.Before, d.After = rawJSON(e.Before), rawJSON(e.After)
		out.Body.Items = append(out.Body.Items, d)
	}
	return out, nil
}

func rawJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v
}
