package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/postgres"
	"github.com/keyipsentinel/sentinel/sentineltest"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

// invalidations records what a watcher reports. The channel is shared by
// every schema of the database, so other tests' keys may show up too:
// tests use keys of their own and look for those.
type invalidations struct {
	keys chan sentinel.KeyHash
	all  chan struct{}
}

func newInvalidations() *invalidations {
	return &invalidations{keys: make(chan sentinel.KeyHash, 1000), all: make(chan struct{}, 100)}
}

func (r *invalidations) Invalidate(k sentinel.KeyHash) { r.keys <- k }
func (r *invalidations) InvalidateAll()                { r.all <- struct{}{} }

// next returns the next of the keys in want to be invalidated.
func (r *invalidations) next(t *testing.T, within time.Duration, want ...sentinel.KeyHash) sentinel.KeyHash {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case k := <-r.keys:
			for _, w := range want {
				if k == w {
					return k
				}
			}
		case <-timeout:
			t.Fatalf("no invalidation within %v", within)
		}
	}
}

func TestBindingFeed(t *testing.T) {
	ctx := context.Background()
	watcher, dsn := migratedDB(t)
	inv := newInvalidations()
	sentineltest.RunFeed(t, postgres.NewBindingFeed(watcher, nil), inv)

	// Changes come from another pool, as from another process.
	s := postgres.NewBindingStore(openDB(t, dsn, postgres.Options{}))
	key, marker := sentineltest.Key(testenv.Unique("watched")), sentineltest.Key(testenv.Unique("marker"))
	stored, _, err := s.CreateBinding(ctx, sentineltest.NewBinding(t, key, "192.0.2.1"))
	require.NoError(t, err)
	_, _, err = s.CreateBinding(ctx, sentineltest.NewBinding(t, marker, "192.0.2.2"))
	require.NoError(t, err)
	require.NoError(t, s.TouchBindings(ctx, []sentinel.Use{{Key: key, Addr: netip.MustParseAddr("192.0.2.1"), At: stored.LastUsedAt.Add(time.Minute)}}))

	// PostgreSQL delivers notifications in commit order: once the
	// marker's arrives, any for the creation or the touch would have too.
	all := sentinel.Rule{Kind: sentinel.RuleAll}
	_, err = s.UpdateBinding(ctx, marker, sentinel.BindingUpdate{Rule: &all})
	require.NoError(t, err)
	require.Equal(t, marker, inv.next(t, time.Second, key, marker), "neither creation nor touch notifies")

	banned := sentinel.StatusBanned
	_, err = s.UpdateBinding(ctx, key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	require.Equal(t, key, inv.next(t, time.Second, key), "update")

	_, _, err = s.LearnPrefix(ctx, key, sentineltest.Prefix(t, "192.0.2.9"))
	require.NoError(t, err) // a single rule learns nothing: no new version, no notification

	_, err = s.DeleteBinding(ctx, key, 0)
	require.NoError(t, err)
	require.Equal(t, key, inv.next(t, time.Second, key), "delete")
	require.Empty(t, inv.all, "no reconnect, no InvalidateAll")
}

// syncBuffer is a bytes.Buffer the watcher's goroutine may log to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestBindingFeedReconnects(t *testing.T) {
	ctx := context.Background()
	_, dsn := migratedDB(t)
	// A name of its own lets the test find the watcher's session to kill.
	app := testenv.Unique("watch")
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	watcher := openDB(t, u.String(), postgres.Options{})
	inv := newInvalidations()
	var logs syncBuffer
	feed := postgres.NewBindingFeed(watcher, slog.New(slog.NewTextHandler(&logs, nil)))
	sentineltest.RunFeed(t, feed, inv)

	raw := rawDB(t, dsn)
	_, err = raw.ExecContext(ctx,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
	require.NoError(t, err)
	select {
	case <-inv.all:
	case <-time.After(5 * time.Second):
		t.Fatal("no InvalidateAll after the connection came back")
	}

	s := postgres.NewBindingStore(openDB(t, dsn, postgres.Options{}))
	key := sentineltest.Key(testenv.Unique("watched"))
	_, _, err = s.CreateBinding(ctx, sentineltest.NewBinding(t, key, "192.0.2.1"))
	require.NoError(t, err)
	_, err = s.DeleteBinding(ctx, key, 0)
	require.NoError(t, err)
	require.Equal(t, key, inv.next(t, time.Second, key), "the new connection listens")

	require.Equal(t, postgres.FeedStats{Lost: 1, Back: 1}, withoutIdle(feed.Stats()), logs.String())
}

// freezer is a TCP proxy whose existing connections can be made to go
// silent without closing, as when a database fails over or a NAT forgets
// the connection: bytes are swallowed and nothing ever answers.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*atomic.Bool // one flag per proxied connection: frozen
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go f.serve()
	return f
}

func (f *freezer) serve() {
	for {
		client, err := f.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", f.target)
		if err != nil {
			client.Close()
			continue
		}
		frozen := new(atomic.Bool)
		f.mu.Lock()
		f.conns = append(f.conns, frozen)
		f.mu.Unlock()
		go f.pipe(client, server, frozen)
		go f.pipe(server, client, frozen)
	}
}

func (f *freezer) pipe(dst, src net.Conn, frozen *atomic.Bool) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze silences every connection made so far; new ones work.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Store(true)
	}
}

func TestBindingFeedNoticesASilentPeer(t *testing.T) {
	ctx := context.Background()
	_, dsn := migratedDB(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	proxy := newFreezer(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	watcher := openDB(t, u.String(), postgres.Options{QueryTimeout: 200 * time.Millisecond})
	watcher.SetIdleCheck(50 * time.Millisecond)
	inv := newInvalidations()
	feed := postgres.NewBindingFeed(watcher, nil)
	sentineltest.RunFeed(t, feed, inv)

	s := postgres.NewBindingStore(openDB(t, dsn, postgres.Options{}))
	key := sentineltest.Key(testenv.Unique("watched"))
	_, _, err = s.CreateBinding(ctx, sentineltest.NewBinding(t, key, "192.0.2.1"))
	require.NoError(t, err)
	banned := sentinel.StatusBanned

	require.Eventually(t, func() bool { return feed.Stats().IdleChecks >= 3 }, 5*time.Second, 5*time.Millisecond,
		"several idle checks pass on a healthy connection")
	_, err = s.UpdateBinding(ctx, key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	require.Equal(t, key, inv.next(t, time.Second, key), "idle checks leave a healthy connection listening")
	require.Empty(t, inv.all, "a healthy connection is kept")

	proxy.freeze()
	select {
	case <-inv.all:
	case <-time.After(3 * time.Second):
		t.Fatal("the silent connection was not replaced")
	}
	_, err = s.DeleteBinding(ctx, key, 0)
	require.NoError(t, err)
	require.Equal(t, key, inv.next(t, time.Second, key), "the new connection listens")
}

// withoutIdle drops the idle checks, whose number depends on timing.
func withoutIdle(s postgres.FeedStats) postgres.FeedStats {
	s.IdleChecks = 0
	return s
}

func TestBindingFeedContract(t *testing.T) {
	sentineltest.TestBindingChangeFeed(t, func(t *testing.T) (sentinel.BindingChangeFeed, sentinel.BindingStore) {
		watcher, dsn := migratedDB(t)
		// Changes come from another pool, as from another process.
		return postgres.NewBindingFeed(watcher, nil), postgres.NewBindingStore(openDB(t, dsn, postgres.Options{}))
	})
}

// TestPlainSQLChangeBumpsVersionAndNotifies: the database assigns version,
// so a ban written with plain SQL draws a new one and reaches the feed, and
// a writer cannot set a version of its own choosing.
func TestPlainSQLChangeBumpsVersionAndNotifies(t *testing.T) {
	ctx := context.Background()
	watcher, dsn := migratedDB(t)
	inv := newInvalidations()
	sentineltest.RunFeed(t, postgres.NewBindingFeed(watcher, nil), inv)
	s := postgres.NewBindingStore(openDB(t, dsn, postgres.Options{}))
	key := sentineltest.Key(testenv.Unique("plain-sql"))
	stored, _, err := s.CreateBinding(ctx, sentineltest.NewBinding(t, key, "192.0.2.1"))
	require.NoError(t, err)

	raw := rawDB(t, dsn)
	_, err = raw.ExecContext(ctx, `UPDATE token_bindings SET status = 'banned' WHERE key_hash = $1`, key[:])
	require.NoError(t, err)
	require.Equal(t, key, inv.next(t, time.Second, key), "a plain SQL ban notifies")
	b, err := s.FindBinding(ctx, key)
	require.NoError(t, err)
	require.Equal(t, sentinel.StatusBanned, b.Status)
	require.Greater(t, b.Version, stored.Version, "the database drew a new version")

	_, err = raw.ExecContext(ctx, `UPDATE token_bindings SET version = 1 WHERE key_hash = $1`, key[:])
	require.NoError(t, err)
	b2, err := s.FindBinding(ctx, key)
	require.NoError(t, err)
	require.Greater(t, b2.Version, b.Version, "versions only grow, whatever the writer says")

	_, err = raw.ExecContext(ctx, `UPDATE token_bindings SET last_used_at = now() WHERE key_hash = $1`, key[:])
	require.NoError(t, err)
	b3, err := s.FindBinding(ctx, key)
	require.NoError(t, err)
	require.Equal(t, b2.Version, b3.Version, "a last-use touch keeps the version")
}
