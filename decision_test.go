package sentinel_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/localcache"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
	"github.com/keyipsentinel/sentinel/sentineltest"
)

func newStore(t testing.TB) sentinel.BindingStore {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return localcache.New(sqlite.NewBindingStore(db), localcache.Options{})
}

func newGuard(t testing.TB, store sentinel.BindingStore, opts sentinel.BinderOptions) *sentinel.Binder {
	t.Helper()
	g, err := sentinel.NewBinder(store, opts)
	require.NoError(t, err)
	return g
}

func request(key, addr string) sentinel.Request {
	return sentinel.Request{Key: sentineltest.Key(key), Addr: netip.MustParseAddr(addr), Token: sentinel.Token(key)}
}

func TestGuardFirstUseThenRefusal(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	g := newGuard(t, store, sentinel.BinderOptions{})

	d, err := g.Decide(ctx, request("k", "192.0.2.1"))
	require.NoError(t, err)
	require.Equal(t, sentinel.Decision{Allow: true, Created: true, Version: d.Version}, d)

	d, err = g.Decide(ctx, request("k", "192.0.2.1"))
	require.NoError(t, err)
	require.True(t, d.Allow)
	require.False(t, d.Created)

	d, err = g.Decide(ctx, request("k", "192.0.2.2"))
	require.NoError(t, err)
	require.False(t, d.Allow)
	require.Equal(t, sentinel.ReasonIPNotAllowed, d.Reason)

	d, err = g.Decide(ctx, request("k", "::ffff:192.0.2.1"))
	require.NoError(t, err)
	require.False(t, d.Allow, "the Guard expects normalised addresses; the proxy normalises")
}

func TestGuardBanAndRules(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	g := newGuard(t, store, sentinel.BinderOptions{})
	_, err := g.Decide(ctx, request("k", "192.0.2.1"))
	require.NoError(t, err)

	all := sentinel.Rule{Kind: sentinel.RuleAll}
	_, err = store.UpdateBinding(ctx, sentineltest.Key("k"), sentinel.BindingUpdate{Rule: &all})
	require.NoError(t, err)
	d, err := g.Decide(ctx, request("k", "203.0.113.5"))
	require.NoError(t, err)
	require.True(t, d.Allow, "rule all allows any address")

	banned := sentinel.StatusBanned
	_, err = store.UpdateBinding(ctx, sentineltest.Key("k"), sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	d, err = g.Decide(ctx, request("k", "192.0.2.1"))
	require.NoError(t, err)
	require.False(t, d.Allow)
	require.Equal(t, sentinel.ReasonBanned, d.Reason)
}

func TestGuardMonitorMode(t *testing.T) {
	ctx := context.Background()
	g := newGuard(t, newStore(t), sentinel.BinderOptions{Mode: sentinel.ModeMonitor})
	_, err := g.Decide(ctx, request("k", "192.0.2.1"))
	require.NoError(t, err)
	d, err := g.Decide(ctx, request("k", "192.0.2.2"))
	require.NoError(t, err)
	require.True(t, d.Allow, "monitor mode refuses nothing")
	require.Equal(t, sentinel.ReasonIPNotAllowed, d.Reason, "but says what it would have refused")
}

func TestGuardLearn(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	g := newGuard(t, store, sentinel.BinderOptions{LearnLimit: 3, Granularity: sentinel.Granularity{IPv4Bits: 24}})
	for _, a := range []string{"192.0.2.1", "192.0.2.99", "198.51.100.1", "203.0.113.1", "192.0.2.7", "198.51.100.200"} {
		d, err := g.Decide(ctx, request("k", a))
		require.NoError(t, err)
		require.True(t, d.Allow, a)
	}
	d, err := g.Decide(ctx, request("k", "192.0.3.1"))
	require.NoError(t, err)
	require.False(t, d.Allow, "a fourth /24 is refused")
	b, err := store.FindBinding(ctx, sentineltest.Key("k"))
	require.NoError(t, err)
	require.Equal(t, "192.0.2.0/24,198.51.100.0/24,203.0.113.0/24", b.Rule.Spec())
}

func TestGuardUnauthorizedForgetsOnlyItsOwnBinding(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	g := newGuard(t, store, sentinel.BinderOptions{})
	req := request("junk", "192.0.2.1")
	d, err := g.Decide(ctx, req)
	require.NoError(t, err)
	require.NoError(t, g.Unauthorized(ctx, req, d))
	_, err = store.FindBinding(ctx, req.Key)
	sentineltest.RequireCode(t, sentinel.ENOTFOUND, err)

	// A binding an operator changed in between is kept.
	d, err = g.Decide(ctx, req)
	require.NoError(t, err)
	all := sentinel.Rule{Kind: sentinel.RuleAll}
	_, err = store.UpdateBinding(ctx, req.Key, sentinel.BindingUpdate{Rule: &all})
	require.NoError(t, err)
	require.NoError(t, g.Unauthorized(ctx, req, d))
	_, err = store.FindBinding(ctx, req.Key)
	require.NoError(t, err)

	// A decision that did not create the binding removes nothing.
	d, err = g.Decide(ctx, req)
	require.NoError(t, err)
	require.False(t, d.Created)
	require.NoError(t, g.Unauthorized(ctx, req, d))
	_, err = store.FindBinding(ctx, req.Key)
	require.NoError(t, err)
}

func TestGuardOptionsAreValidated(t *testing.T) {
	store := newStore(t)
	for _, o := range []sentinel.BinderOptions{
		{Mode: "loose"},
		{Granularity: sentinel.Granularity{IPv4Bits: 40}},
		{LearnLimit: -1},
		{LearnLimit: 10_000},
	} {
		_, err := sentinel.NewBinder(store, o)
		require.Equal(t, sentinel.EINVALID, sentinel.ErrorCode(err), "%+v", o)
	}
	_, err := newGuard(t, store, sentinel.BinderOptions{}).Decide(context.Background(), sentinel.Request{Key: sentineltest.Key("k")})
	require.Equal(t, sentinel.EINVALID, sentinel.ErrorCode(err), "a request without an address")
}

// warmGuard returns a Guard whose store has req's key bound and cached.
func warmGuard(b *testing.B) (*sentinel.Binder, sentinel.Request) {
	g := newGuard(b, newStore(b), sentinel.BinderOptions{})
	req := request("k", "192.0.2.1")
	if _, err := g.Decide(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	return g, req
}

// BenchmarkDecideWarm is the decision on a known key whose binding is in
// the in-process cache: the cost the hot path adds to every request.
func BenchmarkDecideWarm(b *testing.B) {
	ctx := context.Background()
	g, req := warmGuard(b)
	b.ReportAllocs()
	for b.Loop() {
		d, err := g.Decide(ctx, req)
		if err != nil || !d.Allow {
			b.Fatal(d, err)
		}
	}
}

// BenchmarkDecideWarmParallel is the same from every core at once.
func BenchmarkDecideWarmParallel(b *testing.B) {
	ctx := context.Background()
	g, req := warmGuard(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, err := g.Decide(ctx, req); err != nil || !d.Allow {
				b.Fatal(d, err)
			}
		}
	})
}
