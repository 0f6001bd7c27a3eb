package memory_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/memory"
)

func TestAlertCounter(t *testing.T) {
	ctx := context.Background()
	c := memory.NewAlertCounter()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	w1 := sentinel.AlertWindowAt(t0, time.Minute)
	w2 := sentinel.AlertWindowAt(t0.Add(time.Minute), time.Minute)
	var key sentinel.KeyHash
	key[0] = 1
	ip := netip.MustParseAddr("198.51.100.1")

	for i := 1; i <= 3; i++ {
		n, err := c.AddRefusal(ctx, w1, key, ip, t0.Add(time.Duration(i)*time.Second))
		if err != nil || n != int64(i) {
			t.Fatalf("AddRefusal = %d, %v; want %d", n, err, i)
		}
	}
	for i := range sentinel.MaxAlertIPs + 5 {
		c.AddRefusal(ctx, w1, key, netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), t0)
	}
	tally, _ := c.Refusals(ctx, w1, key)
	if tally.Count != int64(3+sentinel.MaxAlertIPs+5) || len(tally.IPs) != sentinel.MaxAlertIPs ||
		tally.IPs[0].IP != ip || tally.IPs[0].Count != 3 || !tally.First.Equal(t0) || !tally.Last.Equal(t0.Add(3*time.Second)) {
		t.Errorf("tally = %+v", tally)
	}
	for i, want := range []bool{true, false, false} {
		if got, _ := c.MarkAlerted(ctx, w1, key); got != want {
			t.Errorf("mark %d = %v, want %v", i, got, want)
		}
	}
	if got, _ := c.MarkAlerted(ctx, w2, key); !got {
		t.Error("the next window has its own mark")
	}
	if tally, _ := c.Refusals(ctx, w1, key); tally.Count != 0 {
		t.Errorf("a past window is forgotten once a later one is in use; count %d", tally.Count)
	}
}
