package adminapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	sentinel "github.com/keyipsentinel/sentinel"
)

// RuleDTO is a binding's rule.
type RuleDTO struct {
	Kind     string   `json:"kind" enum:"single,multiple,all,learn" doc:"single: one IP or CIDR; multiple: a list; all: anywhere; learn: up to limit addresses learned on first use."`
	Prefixes []string `json:"prefixes" nullable:"false" doc:"Allowed IPs and CIDRs (learned ones for learn)." example:"[\"203.0.113.7\",\"198.51.100.0/24\"]"`
	Limit    int      `json:"limit" doc:"For learn: how many addresses may be learned; 0 for other kinds." example:"0"`
}

// RuleInput is a rule to set.
type RuleInput struct {
	Kind     string   `json:"kind" enum:"single,multiple,all,learn" doc:"single takes exactly one IP or CIDR, multiple 1 to 256, all none, learn a limit of at least 2."`
	Prefixes []string `json:"prefixes,omitempty" maxItems:"256" doc:"IPs and CIDRs." example:"[\"203.0.113.0/24\"]"`
	Limit    int      `json:"limit,omitempty" minimum:"0" maximum:"256" doc:"For learn: how many addresses may be learned (2 to 256)."`
}

// BindingDTO is one binding. The key itself is never shown: key_hint is
// its masked form.
type BindingDTO struct {
	ID         string    `json:"id" doc:"Stable identifier of the binding (opaque)." example:"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"`
	KeyHint    string    `json:"key_hint" example:"sk-abcd…wxyz"`
	Rule       RuleDTO   `json:"rule"`
	Status     string    `json:"status" enum:"active,banned"`
	FirstIP    string    `json:"first_ip" doc:"Client of the first use; empty when unknown." example:"203.0.113.7"`
	LastIP     string    `json:"last_ip" doc:"Client of the latest allowed use (refreshed every few seconds)." example:"203.0.113.7"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	// Set only in the archived list (archived=true).
	ArchiveID  int64      `json:"archive_id,omitempty" doc:"Only for archived bindings: the archived row's id, what restore takes." example:"42"`
	ArchivedAt *time.Time `json:"archived_at,omitempty" doc:"Only for archived bindings: when it was archived."`
}

// BindingDetailDTO is a binding with its most recent intercepts.
type BindingDetailDTO struct {
	BindingDTO
	RecentIntercepts []InterceptDTO `json:"recent_intercepts" nullable:"false" doc:"The 20 most recent refused requests of this key, newest first."`
}

func toRuleDTO(r sentinel.Rule) RuleDTO {
	out := RuleDTO{Kind: string(r.Kind), Prefixes: make([]string, 0, len(r.Prefixes)), Limit: r.Limit}
	for _, p := range r.Prefixes {
		out.Prefixes = append(out.Prefixes, sentinel.FormatPrefix(p))
	}
	return out
}

func toBindingDTO(b sentinel.Binding) BindingDTO {
	return BindingDTO{
		ID: b.Key.String(), KeyHint: b.Hint, Rule: toRuleDTO(b.Rule), Status: string(b.Status),
		FirstIP: addrText(b.FirstIP), LastIP: addrText(b.LastIP),
		CreatedAt: b.CreatedAt.UTC(), UpdatedAt: b.UpdatedAt.UTC(), LastUsedAt: b.LastUsedAt.UTC(),
	}
}

// ListBindingsInput filters and pages the binding list.
type ListBindingsInput struct {
	Page     int    `query:"page" default:"1" minimum:"1" maximum:"1000000" doc:"Page number, from 1."`
	PageSize int    `query:"page_size" default:"20" minimum:"1" maximum:"1000" doc:"Items per page."`
	Status   string `query:"status" enum:"active,banned" doc:"Only bindings with this status."`
	Rule     string `query:"rule" enum:"single,multiple,all,learn" doc:"Only bindings with this rule kind."`
	IP       string `query:"ip" maxLength:"64" doc:"IP or CIDR: bindings whose rule allows that address or overlaps that subnet, or whose first or last client is inside it." example:"203.0.113.0/24"`
	Sort     string `query:"sort" default:"created_at" enum:"created_at,last_used_at"`
	Order    string `query:"order" default:"desc" enum:"asc,desc"`
	Archived bool   `query:"archived" doc:"List archived bindings instead (newest archived first; status, rule and ip do not apply). Restore one with POST /admin/api/bindings/restore and its archive_id."`
}

// BindingPage is one page of bindings.
type BindingPage struct {
	Items    []BindingDTO `json:"items" nullable:"false"`
	Total    int          `json:"total" doc:"How many bindings match in all."`
	Page     int          `json:"page"`
	PageSize int          `json:"page_size"`
}

// ListBindingsOutput is a page of bindings.
type ListBindingsOutput struct{ Body BindingPage }

// BindingDetailOutput is one binding with its recent intercepts.
type BindingDetailOutput struct{ Body BindingDetailDTO }

// BindingOutput is one binding.
type BindingOutput struct{ Body BindingDTO }

// GetBindingInput names a binding.
type GetBindingInput struct {
	ID string `path:"id" minLength:"64" maxLength:"64" pattern:"^[0-9a-f]{64}$" doc:"The binding's id."`
}

// LookupInput carries a pasted key.
type LookupInput struct {
	Body struct {
		Key string `json:"key" minLength:"1" maxLength:"4096" doc:"The API key in any form a client sends it (sk-…, with a -channel suffix, Bearer …). It is hashed here and never stored or logged." example:"sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL"`
	}
}

// IDInput names the binding an action applies to.
type IDInput struct {
	Body struct {
		ID string `json:"id" minLength:"64" maxLength:"64" pattern:"^[0-9a-f]{64}$" doc:"The binding's id, from the list."`
	}
}

// SetRuleInput replaces a binding's rule.
type SetRuleInput struct {
	Body struct {
		ID   string    `json:"id" minLength:"64" maxLength:"64" pattern:"^[0-9a-f]{64}$"`
		Rule RuleInput `json:"rule"`
	}
}

// UnbindOutput confirms an unbind.
type UnbindOutput struct {
	Body struct {
		ID      string     `json:"id"`
		Unbound bool       `json:"unbound" doc:"Always true: the key binds afresh on its next use."`
		Before  BindingDTO `json:"before" doc:"The binding as it was."`
	}
}

var idPattern = `^[0-9a-f]{64}$`

func (s *Server) registerBindings() {
	tags := []string{"bindings"}
	std := []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}
	withNotFound := append([]int{http.StatusNotFound}, std...)
	huma.Register(s.api, huma.Operation{
		OperationID: "listBindings", Method: http.MethodGet, Path: Prefix + "/bindings",
		Summary: "List bindings", Tags: tags, Security: secured, Errors: std,
	}, s.listBindings)
	huma.Register(s.api, huma.Operation{
		OperationID: "getBinding", Method: http.MethodGet, Path: Prefix + "/bindings/{id}",
		Summary: "Get a binding with its recent intercepts", Tags: tags, Security: secured, Errors: withNotFound,
	}, func(ctx context.Context, in *GetBindingInput) (*BindingDetailOutput, error) {
		k, err := parseID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		return s.detail(ctx, k)
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "lookupBinding", Method: http.MethodPost, Path: Prefix + "/bindings/lookup",
		Summary: "Find the binding of a pasted key", Tags: tags, Security: secured, Errors: withNotFound,
		Description: "The key travels in the body only, is hashed like on the proxy and is never stored or logged.",
	}, s.lookup)
	huma.Register(s.api, huma.Operation{
		OperationID: "unbind", Method: http.MethodPost, Path: Prefix + "/bindings/unbind",
		Summary: "Remove a binding", Tags: tags, Security: secured, Errors: withNotFound,
		Description: "The key binds afresh to the address of its next use.",
	}, s.unbind)
	huma.Register(s.api, huma.Operation{
		OperationID: "setBindingRule", Method: http.MethodPut, Path: Prefix + "/bindings/ip",
		Summary: "Replace a binding's rule", Tags: tags, Security: secured, Errors: withNotFound,
	}, s.setRule)
	huma.Register(s.api, huma.Operation{
		OperationID: "ban", Method: http.MethodPost, Path: Prefix + "/bindings/ban",
		Summary: "Ban a key", Tags: tags, Security: secured, Errors: withNotFound,
		Description: "Every request with the key is refused with 403 key_banned until it is unbanned.",
	}, func(ctx context.Context, in *IDInput) (*BindingOutput, error) {
		return s.setStatus(ctx, in.Body.ID, sentinel.StatusBanned, sentinel.AuditBan)
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "unban", Method: http.MethodPost, Path: Prefix + "/bindings/unban",
		Summary: "Unban a key", Tags: tags, Security: secured, Errors: withNotFound,
	}, func(ctx context.Context, in *IDInput) (*BindingOutput, error) {
		return s.setStatus(ctx, in.Body.ID, sentinel.StatusActive, sentinel.AuditUnban)
	})
}

func (s *Server) listBindings(ctx context.Context, in *ListBindingsInput) (*ListBindingsOutput, error) {
	if in.Archived {
		return s.listArchived(ctx, in)
	}
	net, err := parseNet("query.ip", in.IP)
	if err != nil {
		return nil, err
	}
	f := sentinel.BindingFilter{
		Status: sentinel.Status(in.Status), Kind: sentinel.RuleKind(in.Rule), Net: net,
		Sort: sentinel.BindingSort(in.Sort), Ascending: in.Order == "asc",
		Offset: (in.Page - 1) * in.PageSize, Limit: in.PageSize,
	}
	bs, total, err := s.opts.Bindings.ListBindings(ctx, f)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := &ListBindingsOutput{Body: BindingPage{Items: make([]BindingDTO, 0, len(bs)), Total: total, Page: in.Page, PageSize: in.PageSize}}
	for _, b := range bs {
		out.Body.Items = append(out.Body.Items, toBindingDTO(b))
	}
	return out, nil
}

func (s *Server) detail(ctx context.Context, k sentinel.KeyHash) (*BindingDetailOutput, error) {
	b, err := s.opts.Bindings.FindBinding(ctx, k)
	if err != nil {
		if sentinel.ErrorCode(err) == sentinel.ENOTFOUND {
			return nil, huma.Error404NotFound("no binding with this id")
		}
		return nil, s.httpError(ctx, err)
	}
	is, _, err := s.opts.Intercepts.ListIntercepts(ctx, sentinel.InterceptFilter{Key: &k, Limit: 20})
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := &BindingDetailOutput{Body: BindingDetailDTO{BindingDTO: toBindingDTO(b), RecentIntercepts: make([]InterceptDTO, 0, len(is))}}
	for _, i := range is {
		out.Body.RecentIntercepts = append(out.Body.RecentIntercepts, toInterceptDTO(i))
	}
	return out, nil
}

func (s *Server) lookup(ctx context.Context, in *LookupInput) (*BindingDetailOutput, error) {
	raw := strings.TrimSpace(in.Body.Key)
	for _, p := range []string{"Bearer ", "bearer ", "Authorization:", "authorization:"} {
		raw = strings.TrimSpace(strings.TrimPrefix(raw, p))
	}
	raw = strings.TrimPrefix(raw, "openai-insecure-api-key.")
	tok := sentinel.NormalizeToken(raw)
	if !tok.Valid() {
		return nil, invalid("body.key", nil, sentinel.Errorf(sentinel.EINVALID, "not a key: keys are printable ASCII without spaces"))
	}
	k := s.opts.Hasher.Hash(tok)
	out, err := s.detail(ctx, k)
	if err != nil {
		if se, ok := err.(huma.StatusError); ok && se.GetStatus() == http.StatusNotFound {
			return nil, huma.Error404NotFound("this key has no binding")
		}
	}
	return out, err
}

func (s *Server) audit(ctx context.Context, action sentinel.AuditAction, target string) *sentinel.AuditEntry {
	return &sentinel.AuditEntry{
		Actor: sessionOf(ctx).ID, ClientIP: clientIPOf(ctx), Action: action, Target: target,
		At: s.opts.Clock.Now().UTC(),
	}
}

func (s *Server) unbind(ctx context.Context, in *IDInput) (*UnbindOutput, error) {
	k, err := parseID("body.id", in.Body.ID)
	if err != nil {
		return nil, err
	}
	b, err := s.deleter.DeleteBindingAudited(ctx, k, 0, *s.audit(ctx, sentinel.AuditUnbind, k.String()))
	if err != nil {
		if sentinel.ErrorCode(err) == sentinel.ENOTFOUND {
			return nil, huma.Error404NotFound("no binding with this id")
		}
		return nil, s.httpError(ctx, err)
	}
	s.opts.Logger.InfoContext(ctx, "admin unbound a key", "session", sessionOf(ctx).ID, "binding", k.String())
	out := &UnbindOutput{}
	out.Body.ID = k.String()
	out.Body.Unbound = true
	out.Body.Before = toBindingDTO(b)
	return out, nil
}

func (s *Server) update(ctx context.Context, k sentinel.KeyHash, upd sentinel.BindingUpdate, action sentinel.AuditAction) (*BindingOutput, error) {
	upd.Audit = s.audit(ctx, action, k.String())
	b, err := s.opts.Bindings.UpdateBinding(ctx, k, upd)
	if err != nil {
		if sentinel.ErrorCode(err) == sentinel.ENOTFOUND {
			return nil, huma.Error404NotFound("no binding with this id")
		}
		return nil, s.httpError(ctx, err)
	}
	s.opts.Logger.InfoContext(ctx, "admin changed a binding", "session", sessionOf(ctx).ID, "binding", k.String(), "action", action)
	return &BindingOutput{Body: toBindingDTO(b)}, nil
}

func (s *Server) setRule(ctx context.Context, in *SetRuleInput) (*BindingOutput, error) {
	k, err := parseID("body.id", in.Body.ID)
	if err != nil {
		return nil, err
	}
	r, err := ruleFromInput(in.Body.Rule)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, k, sentinel.BindingUpdate{Rule: &r}, sentinel.AuditSetRule)
}

// ruleFromInput builds and validates a rule, naming the bad field.
func ruleFromInput(in RuleInput) (sentinel.Rule, error) {
	r := sentinel.Rule{Kind: sentinel.RuleKind(in.Kind)}
	for i, s := range in.Prefixes {
		p, err := sentinel.ParsePrefix(s)
		if err != nil {
			return r, invalid("body.rule.prefixes["+itoa(i)+"]", s, err)
		}
		r.Prefixes = append(r.Prefixes, p)
	}
	switch r.Kind {
	case sentinel.RuleLearn:
		r.Limit = in.Limit
		if r.Limit < 2 {
			return r, invalid("body.rule.limit", in.Limit, sentinel.Errorf(sentinel.EINVALID, "rule learn needs a limit of at least 2"))
		}
	default:
		if in.Limit != 0 {
			return r, invalid("body.rule.limit", in.Limit, sentinel.Errorf(sentinel.EINVALID, "only rule learn takes a limit"))
		}
	}
	if err := r.Validate(); err != nil {
		loc := "body.rule.prefixes"
		if r.Kind == sentinel.RuleLearn && len(r.Prefixes) <= r.Limit {
			loc = "body.rule.limit"
		}
		return r, invalid(loc, in.Prefixes, err)
	}
	return r, nil
}

func (s *Server) setStatus(ctx context.Context, id string, st sentinel.Status, action sentinel.AuditAction) (*BindingOutput, error) {
	k, err := parseID("body.id", id)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, k, sentinel.BindingUpdate{Status: &st}, action)
}
