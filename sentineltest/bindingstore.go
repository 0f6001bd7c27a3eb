// Package sentineltest holds the contract suites every adapter of a
// sentinel port must pass, and helpers for writing tests against them. A
// store's test file calls, for example,
//
//	sentineltest.TestBindingStore(t, func(t *testing.T) sentinel.BindingStore { ... })
//
// with a function that returns a fresh, empty store for each subtest.
package sentineltest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Key returns a distinct, deterministic key hash for name.
func Key(name string) sentinel.KeyHash { return sha256.Sum256([]byte("sentineltest:" + name)) }

// Prefix parses an address or CIDR, failing the test on error.
func Prefix(t testing.TB, s string) netip.Prefix {
	t.Helper()
	p, err := sentinel.ParsePrefix(s)
	require.NoError(t, err)
	return p
}

// NewBinding returns a valid active binding of key with a single rule for addr.
func NewBinding(t testing.TB, key sentinel.KeyHash, addr string) sentinel.Binding {
	t.Helper()
	a := netip.MustParseAddr(addr)
	now := time.Now().UTC().Truncate(time.Microsecond)
	return sentinel.Binding{
		Key:        key,
		Hint:       "sk-test…" + key.String()[:4],
		Rule:       sentinel.SingleRule(sentinel.Granularity{}.Prefix(a)),
		Status:     sentinel.StatusActive,
		FirstIP:    a,
		LastIP:     a,
		CreatedAt:  now,
		UpdatedAt:  now,
		LastUsedAt: now,
	}
}

// RequireCode fails the test unless err carries the domain error code.
func RequireCode(t testing.TB, code string, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, sentinel.ErrorCode(err), "error: %v", err)
}

// TestBindingStore runs the sentinel.BindingStore contract against stores
// made by open, one fresh empty store per subtest.
func TestBindingStore(t *testing.T, open func(t *testing.T) sentinel.BindingStore) {
	ctx := context.Background()

	t.Run("find unknown key", func(t *testing.T) {
		s := open(t)
		_, err := s.FindBinding(ctx, Key("nobody"))
		RequireCode(t, sentinel.ENOTFOUND, err)
	})

	t.Run("create then find", func(t *testing.T) {
		s := open(t)
		b := NewBinding(t, Key("a"), "192.0.2.10")
		stored, created, err := s.CreateBinding(ctx, b)
		require.NoError(t, err)
		require.True(t, created)
		require.Positive(t, stored.Version)

		got, err := s.FindBinding(ctx, b.Key)
		require.NoError(t, err)
		RequireSameBinding(t, stored, got)
		assert.Equal(t, b.Hint, got.Hint)
		assert.Equal(t, b.Rule, got.Rule)
		assert.Equal(t, b.FirstIP, got.FirstIP)
		assert.Equal(t, b.CreatedAt, got.CreatedAt)
	})

	t.Run("create keeps every rule kind", func(t *testing.T) {
		s := open(t)
		rules := []sentinel.Rule{
			sentinel.SingleRule(Prefix(t, "10.0.0.0/8")),
			{Kind: sentinel.RuleMultiple, Prefixes: []netip.Prefix{Prefix(t, "192.0.2.1"), Prefix(t, "2001:db8::/48")}},
			{Kind: sentinel.RuleAll},
			{Kind: sentinel.RuleLearn, Limit: 3, Prefixes: []netip.Prefix{Prefix(t, "2001:db8:1:2::/64")}},
		}
		for i, r := range rules {
			b := NewBinding(t, Key(fmt.Sprint("rule", i)), "192.0.2.1")
			b.Rule = r
			_, created, err := s.CreateBinding(ctx, b)
			require.NoError(t, err)
			require.True(t, created)
			got, err := s.FindBinding(ctx, b.Key)
			require.NoError(t, err)
			assert.True(t, r.Equal(got.Rule), "rule %d: stored %+v, read %+v", i, r, got.Rule)
		}
	})

	t.Run("create sanitises the hint", func(t *testing.T) {
		s := open(t)
		for name, hint := range map[string]string{
			"nul": "sk-ab\x00…wxyz", "invalid utf-8": "sk-\xff\xfe…wxyz", "over-long": "sk-" + strings.Repeat("é", 40),
		} {
			b := NewBinding(t, Key("hint "+name), "192.0.2.1")
			b.Hint = hint
			_, created, err := s.CreateBinding(ctx, b)
			require.NoError(t, err, name)
			require.True(t, created, name)
			got := findUncached(t, s, b.Key)
			require.Equal(t, b.Sanitized().Hint, got.Hint, name)
			require.True(t, utf8.ValidString(got.Hint) && !strings.Contains(got.Hint, "\x00"), "%s: %q", name, got.Hint)
		}
	})

	t.Run("second create returns the first binding", func(t *testing.T) {
		s := open(t)
		first, _, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "192.0.2.10"))
		require.NoError(t, err)
		stored, created, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "198.51.100.7"))
		require.NoError(t, err)
		require.False(t, created)
		RequireSameBinding(t, first, stored)
		assert.Equal(t, netip.MustParseAddr("192.0.2.10"), stored.FirstIP)
	})

	t.Run("create refuses an invalid binding", func(t *testing.T) {
		s := open(t)
		b := NewBinding(t, Key("a"), "192.0.2.10")
		b.Rule = sentinel.Rule{Kind: sentinel.RuleSingle}
		_, _, err := s.CreateBinding(ctx, b)
		RequireCode(t, sentinel.EINVALID, err)
		_, err = s.FindBinding(ctx, b.Key)
		RequireCode(t, sentinel.ENOTFOUND, err)
	})

	t.Run("concurrent creates: exactly one wins", func(t *testing.T) {
		s := open(t)
		const n = 64
		var wins atomic.Int32
		results := make([]sentinel.Binding, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				b := NewBinding(t, Key("race"), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
				stored, created, err := s.CreateBinding(ctx, b)
				if !assert.NoError(t, err) {
					return
				}
				if created {
					wins.Add(1)
				}
				results[i] = stored
			})
		}
		wg.Wait()
		require.EqualValues(t, 1, wins.Load())
		require.Positive(t, results[0].Version, "every caller got the stored binding")
		for _, r := range results {
			assert.Equal(t, results[0].FirstIP, r.FirstIP)
			assert.Equal(t, results[0].Version, r.Version)
		}
	})

	t.Run("learn fills the rule up to its limit", func(t *testing.T) {
		s := open(t)
		b := NewBinding(t, Key("learner"), "192.0.2.1")
		b.Rule = sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 3, Prefixes: []netip.Prefix{Prefix(t, "192.0.2.1")}}
		stored, _, err := s.CreateBinding(ctx, b)
		require.NoError(t, err)

		got, learned, err := s.LearnPrefix(ctx, b.Key, Prefix(t, "192.0.2.2"))
		require.NoError(t, err)
		require.True(t, learned)
		require.Greater(t, got.Version, stored.Version)
		require.Len(t, got.Rule.Prefixes, 2)

		again, learned, err := s.LearnPrefix(ctx, b.Key, Prefix(t, "192.0.2.2"))
		require.NoError(t, err)
		require.False(t, learned, "a known prefix is not learned twice")
		require.Equal(t, got.Version, again.Version)

		_, learned, err = s.LearnPrefix(ctx, b.Key, Prefix(t, "2001:db8::/64"))
		require.NoError(t, err)
		require.True(t, learned)

		full, learned, err := s.LearnPrefix(ctx, b.Key, Prefix(t, "192.0.2.4"))
		require.NoError(t, err)
		require.False(t, learned, "a full rule is locked")
		require.Len(t, full.Rule.Prefixes, 3)
		require.False(t, full.Rule.Allows(netip.MustParseAddr("192.0.2.4")))

		read, err := s.FindBinding(ctx, b.Key)
		require.NoError(t, err)
		RequireSameBinding(t, full, read)
	})

	t.Run("learn leaves other rules alone", func(t *testing.T) {
		s := open(t)
		stored, _, err := s.CreateBinding(ctx, NewBinding(t, Key("single"), "192.0.2.1"))
		require.NoError(t, err)
		got, learned, err := s.LearnPrefix(ctx, stored.Key, Prefix(t, "192.0.2.2"))
		require.NoError(t, err)
		require.False(t, learned)
		RequireSameBinding(t, stored, got)

		_, _, err = s.LearnPrefix(ctx, Key("nobody"), Prefix(t, "192.0.2.2"))
		RequireCode(t, sentinel.ENOTFOUND, err)
	})

	t.Run("concurrent learning never passes the limit", func(t *testing.T) {
		s := open(t)
		b := NewBinding(t, Key("learner"), "192.0.2.1")
		b.Rule = sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 4, Prefixes: []netip.Prefix{Prefix(t, "192.0.2.1")}}
		_, _, err := s.CreateBinding(ctx, b)
		require.NoError(t, err)
		var learned atomic.Int32
		var wg sync.WaitGroup
		for i := range 24 {
			wg.Go(func() {
				_, ok, err := s.LearnPrefix(ctx, b.Key, Prefix(t, fmt.Sprintf("198.51.100.%d", i+1)))
				assert.NoError(t, err)
				if ok {
					learned.Add(1)
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 3, learned.Load())
		got, err := s.FindBinding(ctx, b.Key)
		require.NoError(t, err)
		require.Len(t, got.Rule.Prefixes, 4)
	})

	t.Run("update rule and status", func(t *testing.T) {
		s := open(t)
		stored, _, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "192.0.2.1"))
		require.NoError(t, err)

		rule := sentinel.Rule{Kind: sentinel.RuleMultiple, Prefixes: []netip.Prefix{Prefix(t, "10.0.0.0/8"), Prefix(t, "192.0.2.7")}}
		got, err := s.UpdateBinding(ctx, stored.Key, sentinel.BindingUpdate{Rule: &rule})
		require.NoError(t, err)
		require.True(t, rule.Equal(got.Rule))
		require.Greater(t, got.Version, stored.Version)
		require.False(t, got.UpdatedAt.Before(stored.UpdatedAt))

		banned := sentinel.StatusBanned
		got2, err := s.UpdateBinding(ctx, stored.Key, sentinel.BindingUpdate{Status: &banned})
		require.NoError(t, err)
		require.Equal(t, sentinel.StatusBanned, got2.Status)
		require.Greater(t, got2.Version, got.Version)

		same, err := s.UpdateBinding(ctx, stored.Key, sentinel.BindingUpdate{Status: &banned})
		require.NoError(t, err)
		require.Equal(t, got2.Version, same.Version, "an update that changes nothing keeps the version")

		read, err := s.FindBinding(ctx, stored.Key)
		require.NoError(t, err)
		RequireSameBinding(t, got2, read)
		require.True(t, rule.Equal(read.Rule))
	})

	t.Run("update refuses bad input and unknown keys", func(t *testing.T) {
		s := open(t)
		stored, _, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "192.0.2.1"))
		require.NoError(t, err)
		bad := sentinel.Rule{Kind: sentinel.RuleMultiple}
		_, err = s.UpdateBinding(ctx, stored.Key, sentinel.BindingUpdate{Rule: &bad})
		RequireCode(t, sentinel.EINVALID, err)
		weird := sentinel.Status("frozen")
		_, err = s.UpdateBinding(ctx, stored.Key, sentinel.BindingUpdate{Status: &weird})
		RequireCode(t, sentinel.EINVALID, err)
		read, err := s.FindBinding(ctx, stored.Key)
		require.NoError(t, err)
		RequireSameBinding(t, stored, read)

		_, err = s.UpdateBinding(ctx, Key("nobody"), sentinel.BindingUpdate{Status: &weird})
		require.Error(t, err)
		all := sentinel.Rule{Kind: sentinel.RuleAll}
		_, err = s.UpdateBinding(ctx, Key("nobody"), sentinel.BindingUpdate{Rule: &all})
		RequireCode(t, sentinel.ENOTFOUND, err)
	})

	t.Run("delete", func(t *testing.T) {
		s := open(t)
		stored, _, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "192.0.2.1"))
		require.NoError(t, err)
		gone, err := s.DeleteBinding(ctx, stored.Key, 0)
		require.NoError(t, err)
		require.Greater(t, gone.Version, stored.Version, "the deletion has its own, newer version")
		require.Equal(t, stored.FirstIP, gone.FirstIP)
		_, err = s.FindBinding(ctx, stored.Key)
		RequireCode(t, sentinel.ENOTFOUND, err)
		_, err = s.DeleteBinding(ctx, stored.Key, 0)
		RequireCode(t, sentinel.ENOTFOUND, err)

		again, created, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "198.51.100.1"))
		require.NoError(t, err)
		require.True(t, created, "a deleted key binds again")
		require.Greater(t, again.Version, gone.Version, "versions only grow, across deletion")
	})

	t.Run("conditional delete", func(t *testing.T) {
		s := open(t)
		stored, _, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "192.0.2.1"))
		require.NoError(t, err)
		all := sentinel.Rule{Kind: sentinel.RuleAll}
		changed, err := s.UpdateBinding(ctx, stored.Key, sentinel.BindingUpdate{Rule: &all})
		require.NoError(t, err)

		_, err = s.DeleteBinding(ctx, stored.Key, stored.Version)
		RequireCode(t, sentinel.ECONFLICT, err)
		_, err = s.FindBinding(ctx, stored.Key)
		require.NoError(t, err, "a binding changed since the version is kept")

		_, err = s.DeleteBinding(ctx, stored.Key, changed.Version)
		require.NoError(t, err)
		_, err = s.FindBinding(ctx, stored.Key)
		RequireCode(t, sentinel.ENOTFOUND, err)
	})

	t.Run("versions grow across keys", func(t *testing.T) {
		s := open(t)
		var last int64
		for i := range 5 {
			b, _, err := s.CreateBinding(ctx, NewBinding(t, Key(fmt.Sprint("v", i)), "192.0.2.1"))
			require.NoError(t, err)
			require.Greater(t, b.Version, last)
			last = b.Version
		}
	})

	t.Run("touch refreshes last use only", func(t *testing.T) {
		s := open(t)
		stored, _, err := s.CreateBinding(ctx, NewBinding(t, Key("a"), "192.0.2.1"))
		require.NoError(t, err)
		later := stored.LastUsedAt.Add(90 * time.Second)
		err = s.TouchBindings(ctx, []sentinel.Use{
			{Key: stored.Key, Addr: netip.MustParseAddr("192.0.2.1"), At: later},
			{Key: Key("nobody"), Addr: netip.MustParseAddr("192.0.2.9"), At: later},
		})
		require.NoError(t, err)
		got := findUncached(t, s, stored.Key)
		require.Equal(t, later, got.LastUsedAt)
		require.Equal(t, stored.Version, got.Version, "touching does not change the version")

		err = s.TouchBindings(ctx, []sentinel.Use{{Key: stored.Key, Addr: netip.MustParseAddr("192.0.2.1"), At: stored.LastUsedAt}})
		require.NoError(t, err)
		got = findUncached(t, s, stored.Key)
		require.Equal(t, later, got.LastUsedAt, "an older use never moves LastUsedAt back")
		_, err = s.FindBinding(ctx, Key("nobody"))
		RequireCode(t, sentinel.ENOTFOUND, err)
	})

	t.Run("list filters and pages", func(t *testing.T) {
		s := open(t)
		base := time.Now().UTC().Truncate(time.Microsecond)
		mk := func(name, addr string, age time.Duration) sentinel.Binding {
			b := NewBinding(t, Key(name), addr)
			b.CreatedAt = base.Add(-age)
			stored, _, err := s.CreateBinding(ctx, b)
			require.NoError(t, err)
			return stored
		}
		a := mk("a", "192.0.2.1", 3*time.Minute)
		b := mk("b", "192.0.2.2", 2*time.Minute)
		c := mk("c", "2001:db8::1", time.Minute)
		banned := sentinel.StatusBanned
		_, err := s.UpdateBinding(ctx, b.Key, sentinel.BindingUpdate{Status: &banned})
		require.NoError(t, err)

		all, total, err := s.ListBindings(ctx, sentinel.BindingFilter{})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []sentinel.KeyHash{c.Key, b.Key, a.Key}, keys(all), "newest first")

		page, total, err := s.ListBindings(ctx, sentinel.BindingFilter{Limit: 1, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []sentinel.KeyHash{b.Key}, keys(page))

		got, total, err := s.ListBindings(ctx, sentinel.BindingFilter{Status: sentinel.StatusBanned})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, []sentinel.KeyHash{b.Key}, keys(got))

		got, total, err = s.ListBindings(ctx, sentinel.BindingFilter{Net: Prefix(t, "192.0.2.0/24")})
		require.NoError(t, err)
		require.Equal(t, 2, total)
		require.Equal(t, []sentinel.KeyHash{b.Key, a.Key}, keys(got))

		got, total, err = s.ListBindings(ctx, sentinel.BindingFilter{Net: Prefix(t, "2001:db8::5")})
		require.NoError(t, err)
		require.Equal(t, 1, total, "an address inside a bound IPv6 /64")
		require.Equal(t, []sentinel.KeyHash{c.Key}, keys(got))

		got, total, err = s.ListBindings(ctx, sentinel.BindingFilter{Key: &a.Key})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, []sentinel.KeyHash{a.Key}, keys(got))

		_, _, err = s.ListBindings(ctx, sentinel.BindingFilter{Offset: -1})
		RequireCode(t, sentinel.EINVALID, err)
	})
}

// findUncached reads key from the store behind any cache: through
// ListBindings, which every cache passes through.
func findUncached(t *testing.T, s sentinel.BindingStore, key sentinel.KeyHash) sentinel.Binding {
	t.Helper()
	bs, _, err := s.ListBindings(context.Background(), sentinel.BindingFilter{Key: &key})
	require.NoError(t, err)
	require.Len(t, bs, 1)
	return bs[0]
}

// RequireSameBinding fails unless a and b are the same binding at the same
// version with the same rule and status.
func RequireSameBinding(t testing.TB, want, got sentinel.Binding) {
	t.Helper()
	require.Equal(t, want.Key, got.Key)
	require.Equal(t, want.Version, got.Version)
	require.Equal(t, want.Status, got.Status)
	require.True(t, want.Rule.Equal(got.Rule), "rule: want %+v, got %+v", want.Rule, got.Rule)
}

func keys(bs []sentinel.Binding) []sentinel.KeyHash {
	out := make([]sentinel.KeyHash, len(bs))
	for i, b := range bs {
		out[i] = b.Key
	}
	return out
}
