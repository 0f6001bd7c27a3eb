package valkey

import (
	"context"
	"strings"

	"github.com/valkey-io/valkey-go"

	sentinel "github.com/keyipsentinel/sentinel"
)

// A BindingStore follows the authority's change feed (run
// postgres.NewBindingFeed with it as the invalidator): a change made in
// PostgreSQL by anything (SQL, another tool, a crash between the commit and
// the Valkey write) is repaired in Valkey with set-if-newer, and Valkey's
// tracking then drops every proxy's client-side copy. Every proxy runs the
// feed; the first repair wins, the others find the version already there.
var _ sentinel.BindingInvalidator = (*BindingStore)(nil)

// Invalidate implements sentinel.BindingInvalidator: it reads key's
// binding from the authority and writes it to Valkey unless Valkey holds
// that version or a newer one. A key the authority no longer has, or one
// that cannot be read now, is removed from Valkey, so readers ask the
// authority.
func (s *BindingStore) Invalidate(key sentinel.KeyHash) {
	s.invalidations.Add(1)
	vc, ok := s.c.get()
	if !ok {
		return // down: what Valkey holds is not read, and the catch-up after it flushes
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.opts.Timeout)
	defer cancel()
	b, err := s.inner.FindBinding(ctx, key)
	if err == nil {
		s.publish(ctx, b, false)
		return
	}
	if err := vc.Do(ctx, vc.B().Del().Key(s.cacheKey(key)).Build()).Error(); err != nil {
		s.c.failed(ctx, err)
	}
	s.memo.drop(key)
}

// InvalidateAll implements sentinel.BindingInvalidator: the feed may have
// missed changes (it reconnected), so every cached binding is removed from
// Valkey and read again from the authority on its next use.
func (s *BindingStore) InvalidateAll() {
	s.invalidations.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.c.opts.Timeout)
	defer cancel()
	if err := s.flush(ctx); err != nil {
		s.c.log.Warn("valkey: could not drop the cached bindings after the change feed reconnected; they expire on their TTL", "err", err)
	}
}

// flush removes every cached binding under the prefix, on every node.
func (s *BindingStore) flush(ctx context.Context) error {
	vc, ok := s.c.get()
	if !ok {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: not connected")
	}
	pattern := s.c.opts.Prefix + bindingSpace + "*"
	for _, node := range vc.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return translate(err, "scan cached bindings")
			}
			// One round trip per batch: a cache of a million bindings is
			// cleared in seconds, not minutes. (Single-key commands, so a
			// cluster node never sees keys of two slots in one.)
			cmds := make(valkey.Commands, 0, len(e.Elements))
			for _, k := range e.Elements {
				cmds = append(cmds, node.B().Unlink().Key(k).Build())
			}
			for _, res := range node.DoMulti(ctx, cmds...) {
				if err := res.Error(); err != nil && !valkey.IsValkeyNil(err) {
					return translate(err, "drop a cached binding")
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	s.memo.clear()
	return nil
}

// watchRestart is a catch-up hook: when the server's run id changes (it
// restarted, perhaps from an old snapshot), what it holds may be older
// than the authority, so the cached bindings are dropped at once instead
// of living out their TTL.
func (s *BindingStore) watchRestart(ctx context.Context) error {
	vc, ok := s.c.get()
	if !ok {
		vc0 := s.c.client.Load()
		if vc0 == nil {
			return nil
		}
		vc = *vc0
	}
	info, err := vc.Do(ctx, vc.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return nil // the PING decides whether Valkey is up; this only looks
	}
	id := runID(info)
	s.runMu.Lock()
	prev := s.runID
	s.runMu.Unlock()
	if id == "" || id == prev {
		return nil
	}
	if prev != "" {
		s.c.log.Warn("valkey: the server restarted; dropping its cached bindings so none older than the authority is used", "addr", s.c.describe())
		if err := s.flush(ctx); err != nil {
			return err
		}
	}
	s.runMu.Lock()
	s.runID = id
	s.runMu.Unlock()
	return nil
}

func runID(info string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	return ""
}

// drop forgets key.
func (m *memo) drop(k sentinel.KeyHash) {
	s := &m.shards[k[0]%64]
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// clear forgets everything.
func (m *memo) clear() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}
