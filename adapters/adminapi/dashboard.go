package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	sentinel "github.com/keyipsentinel/sentinel"
)

// DayCounts are one day's proxy counts.
type DayCounts struct {
	Allowed     int64 `json:"allowed"`
	Refused     int64 `json:"refused"`
	NewBindings int64 `json:"new_bindings"`
}

// DayPoint is one day of the series.
type DayPoint struct {
	Date string `json:"date" format:"date" example:"2026-12-01"`
	DayCounts
}

// BindingTotals count bindings.
type BindingTotals struct {
	Total  int            `json:"total"`
	Active int            `json:"active"`
	Banned int            `json:"banned"`
	ByRule map[string]int `json:"by_rule" doc:"Bindings per rule kind (single, multiple, all, learn)."`
}

// TopKey is a key with many refusals.
type TopKey struct {
	ID      string `json:"id"`
	KeyHint string `json:"key_hint"`
	Count   int64  `json:"count"`
}

// TopIP is a client address with many refusals.
type TopIP struct {
	IP    string `json:"ip"`
	Count int64  `json:"count"`
}

// DashboardInput picks the series length.
type DashboardInput struct {
	Days int `query:"days" default:"7" minimum:"7" maximum:"30" doc:"7 or 30: days in the series (today included); also the window of the top lists."`
}

// DashboardOutput is the dashboard.
type DashboardOutput struct {
	Body struct {
		Today          DayCounts     `json:"today"`
		Series         []DayPoint    `json:"series" nullable:"false" doc:"Oldest first, ending today (UTC days)."`
		Bindings       BindingTotals `json:"bindings"`
		TopRefusedKeys []TopKey      `json:"top_refused_keys" nullable:"false"`
		TopRefusedIPs  []TopIP       `json:"top_refused_ips" nullable:"false"`
	}
}

const topN = 10

func (s *Server) registerDashboard() {
	huma.Register(s.api, huma.Operation{
		OperationID: "getDashboard", Method: http.MethodGet, Path: Prefix + "/dashboard",
		Summary: "Counts and top refusals", Tags: []string{"dashboard"}, Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, s.dashboard)
}

func (s *Server) dashboard(ctx context.Context, in *DashboardInput) (*DashboardOutput, error) {
	if in.Days != 7 && in.Days != 30 {
		return nil, invalid("query.days", in.Days, sentinel.Errorf(sentinel.EINVALID, "days must be 7 or 30"))
	}
	now := s.opts.Clock.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	out := &DashboardOutput{}
	out.Body.Series = make([]DayPoint, 0, in.Days)
	for d := in.Days - 1; d >= 0; d-- {
		day := today.AddDate(0, 0, -d)
		m, err := s.opts.Daily.Daily(ctx, day)
		if err != nil {
			return nil, s.httpError(ctx, err)
		}
		out.Body.Series = append(out.Body.Series, DayPoint{Date: day.Format(time.DateOnly), DayCounts: DayCounts{
			Allowed: m[sentinel.MetricAllowed], Refused: m[sentinel.MetricRefused], NewBindings: m[sentinel.MetricNewBindings]}})
	}
	out.Body.Today = out.Body.Series[len(out.Body.Series)-1].DayCounts

	c, err := s.opts.BindingReport.CountBindings(ctx)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out.Body.Bindings = BindingTotals{Total: c.Total, Active: c.Active, Banned: c.Banned, ByRule: map[string]int{}}
	for _, k := range []sentinel.RuleKind{sentinel.RuleSingle, sentinel.RuleMultiple, sentinel.RuleAll, sentinel.RuleLearn} {
		out.Body.Bindings.ByRule[string(k)] = c.ByRule[k]
	}

	since := today.AddDate(0, 0, -(in.Days - 1))
	keys, err := s.opts.InterceptReport.TopRefusedKeys(ctx, since, topN)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out.Body.TopRefusedKeys = make([]TopKey, 0, len(keys))
	for _, k := range keys {
		out.Body.TopRefusedKeys = append(out.Body.TopRefusedKeys, TopKey{ID: k.Key.String(), KeyHint: k.Hint, Count: k.Count})
	}
	ips, err := s.opts.InterceptReport.TopRefusedIPs(ctx, since, topN)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out.Body.TopRefusedIPs = make([]TopIP, 0, len(ips))
	for _, i := range ips {
		out.Body.TopRefusedIPs = append(out.Body.TopRefusedIPs, TopIP{IP: addrText(i.IP), Count: i.Count})
	}
	return out, nil
}
