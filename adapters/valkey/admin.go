package valkey

import (
	"context"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

var _ sentinel.AuditedBindingDeleter = (*BindingStore)(nil)

// DeleteBindingAudited implements sentinel.AuditedBindingDeleter: the
// authority deletes and audits in one transaction, then the tombstone is
// published as DeleteBinding does. EINTERNAL when the authority cannot
// audit deletions.
func (s *BindingStore) DeleteBindingAudited(ctx context.Context, key sentinel.KeyHash, version int64, audit sentinel.AuditEntry) (sentinel.Binding, error) {
	d, ok := s.inner.(sentinel.AuditedBindingDeleter)
	if !ok {
		return sentinel.Binding{}, sentinel.Errorf(sentinel.EINTERNAL, "valkey: the wrapped binding store cannot audit deletions")
	}
	b, err := d.DeleteBindingAudited(ctx, key, version, audit)
	if err == nil {
		s.publish(ctx, b, true)
	}
	return b, err
}

// TTL returns how long name's open window has left, 0 when none is open
// (the admin API's Retry-After).
func (w *WindowCounter) TTL(ctx context.Context, name string) (time.Duration, error) {
	vc, ok := w.c.get()
	if !ok {
		return 0, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	ms, err := vc.Do(ctx, vc.B().Pttl().Key(w.key(name)).Build()).AsInt64()
	w.c.failed(ctx, err)
	if err != nil {
		return 0, translate(err, "read counter expiry")
	}
	if ms < 0 {
		return 0, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}
