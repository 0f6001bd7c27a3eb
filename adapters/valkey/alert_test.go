package valkey_test

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/valkey"
)

func TestAlertCounter(t *testing.T) {
	eachTopology(t, func(t *testing.T, addr, prefix string) {
		ctx := context.Background()
		a := valkey.NewAlertCounter(connect(t, addr, prefix))
		b := valkey.NewAlertCounter(connect(t, addr, prefix)) // another process
		t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		w := sentinel.AlertWindowAt(t0, time.Minute)
		var key, other sentinel.KeyHash
		key[0], other[0] = 1, 2

		for i, c := range []*valkey.AlertCounter{a, b, a} {
			n, err := c.AddRefusal(ctx, w, key, netip.MustParseAddr("198.51.100.1"), t0.Add(time.Duration(10-i)*time.Second))
			require.NoError(t, err)
			assert.EqualValues(t, i+1, n)
		}
		for i := range sentinel.MaxAlertIPs + 10 { // more addresses than are tracked
			_, err := b.AddRefusal(ctx, w, key, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), t0.Add(20*time.Second))
			require.NoError(t, err)
		}
		tally, err := a.Refusals(ctx, w, key)
		require.NoError(t, err)
		assert.EqualValues(t, 3+sentinel.MaxAlertIPs+10, tally.Count, "every refusal is counted")
		assert.Len(t, tally.IPs, sentinel.MaxAlertIPs, "addresses are bounded")
		assert.Equal(t, "198.51.100.1", tally.IPs[0].IP.String())
		assert.EqualValues(t, 3, tally.IPs[0].Count)
		assert.Equal(t, t0.Add(8*time.Second), tally.First)
		assert.Equal(t, t0.Add(20*time.Second), tally.Last)

		empty, err := a.Refusals(ctx, w, other)
		require.NoError(t, err)
		assert.Zero(t, empty.Count)
		next, err := a.AddRefusal(ctx, sentinel.AlertWindowAt(t0.Add(time.Minute), time.Minute), key, netip.Addr{}, t0.Add(time.Minute))
		require.NoError(t, err)
		assert.EqualValues(t, 1, next, "the next window counts afresh")

		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := a
				if i%2 == 1 {
					c = b
				}
				first, err := c.MarkAlerted(ctx, w, key)
				if assert.NoError(t, err) && first {
					firsts.Add(1)
				}
			}()
		}
		wg.Wait()
		assert.EqualValues(t, 1, firsts.Load(), "exactly one caller sets the mark")
		first, err := a.MarkAlerted(ctx, sentinel.AlertWindowAt(t0.Add(time.Minute), time.Minute), key)
		require.NoError(t, err)
		assert.True(t, first, "each window has its own mark")
	})
}
