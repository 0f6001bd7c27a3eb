package adminapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	sentinel "github.com/keyipsentinel/sentinel"
)

// RestoreInput names an archived binding.
type RestoreInput struct {
	Body struct {
		ID int64 `json:"id" minimum:"1" doc:"The archived binding's archive_id, from GET /admin/api/bindings?archived=true." example:"42"`
	}
}

func (s *Server) registerArchive() {
	huma.Register(s.api, huma.Operation{
		OperationID: "restoreBinding", Method: http.MethodPost, Path: Prefix + "/bindings/restore",
		Summary: "Restore an archived binding", Tags: []string{"bindings"}, Security: secured,
		Description: "Moves the archived binding back into the active table with its rule and status. " +
			"409 when its key has bound afresh since it was archived.",
		Errors: []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict,
			http.StatusUnprocessableEntity, http.StatusNotImplemented, http.StatusServiceUnavailable},
	}, s.restore)
}

func (s *Server) listArchived(ctx context.Context, in *ListBindingsInput) (*ListBindingsOutput, error) {
	for _, f := range []struct{ loc, v string }{{"query.status", in.Status}, {"query.rule", in.Rule}, {"query.ip", in.IP}} {
		if f.v != "" {
			return nil, invalid(f.loc, f.v, sentinel.Errorf(sentinel.EINVALID, "%s does not apply to archived bindings", f.loc[len("query."):]))
		}
	}
	if s.opts.Archive == nil {
		return nil, huma.Error501NotImplemented("archiving is not available in this process")
	}
	as, total, err := s.opts.Archive.ListArchived(ctx, sentinel.ArchiveFilter{Offset: (in.Page - 1) * in.PageSize, Limit: in.PageSize})
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := &ListBindingsOutput{Body: BindingPage{Items: make([]BindingDTO, 0, len(as)), Total: total, Page: in.Page, PageSize: in.PageSize}}
	for _, a := range as {
		d := toBindingDTO(a.Binding)
		at := a.ArchivedAt.UTC()
		d.ArchiveID, d.ArchivedAt = a.ID, &at
		out.Body.Items = append(out.Body.Items, d)
	}
	return out, nil
}

func (s *Server) restore(ctx context.Context, in *RestoreInput) (*BindingOutput, error) {
	if s.opts.Archive == nil {
		return nil, huma.Error501NotImplemented("archiving is not available in this process")
	}
	b, err := s.opts.Archive.Restore(ctx, in.Body.ID, s.audit(ctx, sentinel.AuditRestore, ""))
	if err != nil {
		switch sentinel.ErrorCode(err) {
		case sentinel.ENOTFOUND:
			return nil, huma.Error404NotFound("no archived binding with this id")
		case sentinel.ECONFLICT:
			return nil, huma.Error409Conflict("the key has bound afresh since it was archived; unbind it first to restore the archived binding")
		}
		return nil, s.httpError(ctx, err)
	}
	s.opts.Logger.InfoContext(ctx, "admin restored an archived binding", "session", sessionOf(ctx).ID, "binding", b.Key.String())
	return &BindingOutput{Body: toBindingDTO(b)}, nil
}
