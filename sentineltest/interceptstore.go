package sentineltest

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
)

// TestInterceptStore runs the sentinel.InterceptStore contract against
// stores made by open, one fresh empty store per subtest.
func TestInterceptStore(t *testing.T, open func(t *testing.T) sentinel.InterceptStore) {
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Microsecond)
	mk := func(key, ip string, reason sentinel.Reason, age time.Duration) sentinel.Intercept {
		return sentinel.Intercept{
			Key: Key(key), Hint: "sk-ab…" + key, ClientIP: netip.MustParseAddr(ip), Reason: reason,
			Enforced: true, Method: "POST", Path: "/v1/chat/completions", UserAgent: "test/1.0",
			RequestID: "req-" + key, At: base.Add(-age),
		}
	}

	t.Run("add and list newest first", func(t *testing.T) {
		s := open(t)
		in := []sentinel.Intercept{
			mk("a", "192.0.2.1", sentinel.ReasonIPNotAllowed, 3*time.Minute),
			mk("b", "2001:db8::7", sentinel.ReasonBanned, 2*time.Minute),
			mk("a", "198.51.100.4", sentinel.ReasonIPNotAllowed, time.Minute),
		}
		in[1].Enforced = false
		require.NoError(t, s.AddIntercepts(ctx, in))
		require.NoError(t, s.AddIntercepts(ctx, nil))

		got, total, err := s.ListIntercepts(ctx, sentinel.InterceptFilter{})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Len(t, got, 3)
		for i, want := range []sentinel.Intercept{in[2], in[1], in[0]} {
			g := got[i]
			require.Positive(t, g.ID)
			require.Equal(t, want.Key, g.Key)
			require.Equal(t, want.Hint, g.Hint)
			require.Equal(t, want.ClientIP, g.ClientIP)
			require.Equal(t, want.Reason, g.Reason)
			require.Equal(t, want.Enforced, g.Enforced)
			require.Equal(t, want.Method, g.Method)
			require.Equal(t, want.Path, g.Path)
			require.Equal(t, want.UserAgent, g.UserAgent)
			require.Equal(t, want.RequestID, g.RequestID)
			require.True(t, want.At.Equal(g.At), "time: want %v, got %v", want.At, g.At)
		}
	})

	t.Run("free text is sanitised", func(t *testing.T) {
		s := open(t)
		long := strings.Repeat("é", sentinel.MaxUserAgentLen) // two bytes a rune: over the limit
		in := mk("a", "192.0.2.1", sentinel.ReasonIPNotAllowed, time.Minute)
		in.Hint, in.Method, in.Path, in.UserAgent = "sk-\x00\xff"+long, "PO\x00ST", "/v1/\x00\xfe"+long, "agent\xff\x00"+long
		in.RequestID = "id\x00\xff" + long
		require.NoError(t, s.AddIntercepts(ctx, []sentinel.Intercept{in}))
		got, _, err := s.ListIntercepts(ctx, sentinel.InterceptFilter{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		want := in.Sanitized()
		require.Equal(t, want.Hint, got[0].Hint)
		require.Equal(t, want.Method, got[0].Method)
		require.Equal(t, want.Path, got[0].Path)
		require.Equal(t, want.UserAgent, got[0].UserAgent)
		require.Equal(t, want.RequestID, got[0].RequestID)
		require.LessOrEqual(t, len(got[0].RequestID), sentinel.MaxRequestIDLen)
		for _, f := range []string{got[0].Hint, got[0].Method, got[0].Path, got[0].UserAgent, got[0].RequestID} {
			require.True(t, utf8.ValidString(f) && !strings.Contains(f, "\x00"), "%q", f)
		}
	})

	t.Run("filters and pages", func(t *testing.T) {
		s := open(t)
		in := []sentinel.Intercept{
			mk("a", "192.0.2.1", sentinel.ReasonIPNotAllowed, 4*time.Minute),
			mk("a", "192.0.2.200", sentinel.ReasonIPNotAllowed, 3*time.Minute),
			mk("b", "2001:db8:0:1::9", sentinel.ReasonBanned, 2*time.Minute),
			mk("c", "203.0.113.5", sentinel.ReasonMultipleKeys, time.Minute),
		}
		require.NoError(t, s.AddIntercepts(ctx, in))
		count := func(f sentinel.InterceptFilter) int {
			t.Helper()
			_, total, err := s.ListIntercepts(ctx, f)
			require.NoError(t, err)
			return total
		}
		ka := Key("a")
		require.Equal(t, 2, count(sentinel.InterceptFilter{Key: &ka}))
		require.Equal(t, 1, count(sentinel.InterceptFilter{Reason: sentinel.ReasonBanned}))
		require.Equal(t, 2, count(sentinel.InterceptFilter{Net: Prefix(t, "192.0.2.0/24")}))
		require.Equal(t, 1, count(sentinel.InterceptFilter{Net: Prefix(t, "192.0.2.128/25")}))
		require.Equal(t, 1, count(sentinel.InterceptFilter{Net: Prefix(t, "192.0.2.1")}))
		require.Equal(t, 1, count(sentinel.InterceptFilter{Net: Prefix(t, "2001:db8::/48")}))
		require.Equal(t, 0, count(sentinel.InterceptFilter{Net: Prefix(t, "10.0.0.0/8")}))
		require.Equal(t, 2, count(sentinel.InterceptFilter{Since: base.Add(-150 * time.Second)}))
		require.Equal(t, 2, count(sentinel.InterceptFilter{Until: base.Add(-150 * time.Second)}))
		require.Equal(t, 1, count(sentinel.InterceptFilter{Since: base.Add(-3 * time.Minute), Until: base.Add(-2 * time.Minute)}))

		page, total, err := s.ListIntercepts(ctx, sentinel.InterceptFilter{Limit: 2, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, 4, total)
		require.Len(t, page, 2)
		require.Equal(t, Key("b"), page[0].Key)
		require.Equal(t, Key("a"), page[1].Key)

		_, _, err = s.ListIntercepts(ctx, sentinel.InterceptFilter{Offset: -1})
		RequireCode(t, sentinel.EINVALID, err)
	})

	t.Run("delete before", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.AddIntercepts(ctx, []sentinel.Intercept{
			mk("a", "192.0.2.1", sentinel.ReasonIPNotAllowed, 48*time.Hour),
			mk("a", "192.0.2.1", sentinel.ReasonIPNotAllowed, 2*time.Hour),
		}))
		n, err := s.DeleteInterceptsBefore(ctx, base.Add(-24*time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, total, err := s.ListIntercepts(ctx, sentinel.InterceptFilter{})
		require.NoError(t, err)
		require.Equal(t, 1, total)
	})
}
