package sentineltest

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
)

// changes records what a feed reports.
type changes struct{ keys chan sentinel.KeyHash }

func (c *changes) Invalidate(k sentinel.KeyHash) { c.keys <- k }
func (c *changes) InvalidateAll()                {}

// next returns the first reported key that is one of want. Feeds may be
// shared (one PostgreSQL channel for every schema): others are skipped.
func (c *changes) next(t *testing.T, want ...sentinel.KeyHash) sentinel.KeyHash {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case k := <-c.keys:
			for _, w := range want {
				if k == w {
					return k
				}
			}
		case <-timeout:
			t.Fatal("no change reported within 5s")
		}
	}
}

// TestBindingChangeFeed runs the sentinel.BindingChangeFeed contract: open
// returns a feed and a store whose changes it must report (as another
// process's would be), fresh for each call.
func TestBindingChangeFeed(t *testing.T, open func(t *testing.T) (sentinel.BindingChangeFeed, sentinel.BindingStore)) {
	ctx := context.Background()
	feed, s := open(t)
	c := &changes{keys: make(chan sentinel.KeyHash, 1000)}
	RunFeed(t, feed, c)
	key, marker := Key("feed "+rand.Text()), Key("feed marker "+rand.Text())

	stored, _, err := s.CreateBinding(ctx, NewBinding(t, key, "192.0.2.1"))
	require.NoError(t, err)
	_, _, err = s.CreateBinding(ctx, NewBinding(t, marker, "192.0.2.2"))
	require.NoError(t, err)
	require.NoError(t, s.TouchBindings(ctx, []sentinel.Use{{Key: key, Addr: stored.LastIP, At: stored.LastUsedAt.Add(time.Minute)}}))
	all := sentinel.Rule{Kind: sentinel.RuleAll}
	_, err = s.UpdateBinding(ctx, marker, sentinel.BindingUpdate{Rule: &all})
	require.NoError(t, err)
	// Changes are reported in order: by the marker's, a report of the
	// creation or the touch would have come.
	require.Equal(t, marker, c.next(t, key, marker), "neither creation nor touch is a change to report")

	banned := sentinel.StatusBanned
	_, err = s.UpdateBinding(ctx, key, sentinel.BindingUpdate{Status: &banned})
	require.NoError(t, err)
	require.Equal(t, key, c.next(t, key), "update")

	_, err = s.DeleteBinding(ctx, key, 0)
	require.NoError(t, err)
	require.Equal(t, key, c.next(t, key), "delete")
}
