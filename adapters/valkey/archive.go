package valkey

import (
	"context"

	sentinel "github.com/keyipsentinel/sentinel"
)

var _ sentinel.BindingForgetter = (*BindingStore)(nil)

// ForgetBindings implements sentinel.BindingForgetter: it leaves a
// tombstone at each binding's deletion version, as DeleteBinding does, so
// every proxy stops answering from the archived binding and asks the
// authority (where the key no longer has one: it binds afresh).
func (s *BindingStore) ForgetBindings(ctx context.Context, deleted []sentinel.Binding) error {
	for _, b := range deleted {
		s.publish(ctx, b, true)
	}
	return nil
}
