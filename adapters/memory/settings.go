package memory

import (
	"context"
	"sync"

	sentinel "github.com/keyipsentinel/sentinel"
)

// SettingsNotifier is an in-process sentinel.SettingsNotifier: every
// watcher of this process hears every announcement made through it. Other
// processes sharing a SQLite file notice changes by polling the store's
// settings version (sentinel.SettingsFollowerOptions.Poll).
type SettingsNotifier struct {
	mu       sync.Mutex
	next     int
	watchers map[int]func()
}

var _ sentinel.SettingsNotifier = (*SettingsNotifier)(nil)

// NewSettingsNotifier returns a notifier with no watchers.
func NewSettingsNotifier() *SettingsNotifier {
	return &SettingsNotifier{watchers: make(map[int]func())}
}

// NotifySettingsChanged implements sentinel.SettingsNotifier.
func (n *SettingsNotifier) NotifySettingsChanged(context.Context) error {
	n.mu.Lock()
	fns := make([]func(), 0, len(n.watchers))
	for _, fn := range n.watchers {
		fns = append(fns, fn)
	}
	n.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	return nil
}

// WatchSettings implements sentinel.SettingsNotifier: it blocks until ctx
// is done.
func (n *SettingsNotifier) WatchSettings(ctx context.Context, changed func()) error {
	n.mu.Lock()
	id := n.next
	n.next++
	n.watchers[id] = changed
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.watchers, id)
		n.mu.Unlock()
	}()
	changed() // listening
	<-ctx.Done()
	return nil
}
