package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/memcache"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// stores are the configured adapters behind the domain ports.
type stores struct {
	// Bindings is what decisions read: the authority behind its cache.
	Bindings sentinel.BindingStore
	// Authority is the authoritative store itself, for batched writes
	// that caches need not see.
	Authority  sentinel.BindingStore
	Intercepts sentinel.InterceptStore
	Describe   string
	closers    []func()
}

// Close releases the stores in reverse order of opening.
func (s *stores) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// changeFeedInterval is how often the embedded store's change feed is read:
// a change made by another process sharing the file reaches this one's
// cache within it.
const changeFeedInterval = 250 * time.Millisecond

func openStores(ctx context.Context, cfg *config.Config, log *slog.Logger) (*stores, error) {
	st := &stores{}
	path := filepath.Join(cfg.DataDir, "sentinel.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("SENTINEL_DATA_DIR: open the embedded store: %w", err)
	}
	st.closers = append(st.closers, func() { db.Close() })
	bindings := sqlite.NewBindingStore(db)
	cache := memcache.New(bindings, memcache.Options{TTL: cfg.CacheTTL})
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	st.closers = append(st.closers, stopWatch)
	if err := db.WatchBindings(watchCtx, changeFeedInterval, cache, log); err != nil {
		st.Close()
		return nil, err
	}
	st.Bindings, st.Authority, st.Intercepts = cache, bindings, sqlite.NewInterceptStore(db)
	st.Describe = "sqlite:" + path
	return st, nil
}
