package sentinel_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/adapters/memory"
)

// slowStore holds FindBinding until released, counting the calls.
type slowStore struct {
	sentinel.BindingStore
	calls   atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func (s *slowStore) FindBinding(ctx context.Context, k sentinel.KeyHash) (sentinel.Binding, error) {
	s.calls.Add(1)
	s.entered <- struct{}{}
	<-s.release
	return s.BindingStore.FindBinding(ctx, k)
}

// TestGateSingleFlightAndBound: concurrent lookups of one key share one
// authority call, and past the bound a lookup fails at once with ErrBusy
// (an EUNAVAILABLE the HTTP side does not treat as an outage).
func TestGateSingleFlightAndBound(t *testing.T) {
	s := &slowStore{BindingStore: memory.NewBindingStore(memory.BindingStoreOptions{}),
		entered: make(chan struct{}, 16), release: make(chan struct{})}
	g := sentinel.NewGate(s, sentinel.GateOptions{MaxInflight: 1})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := g.FindBinding(ctx, key("one"))
			errs <- err
		}()
	}
	<-s.entered // the one call is in flight
	_, err := g.FindBinding(ctx, key("other"))
	if !errors.Is(err, sentinel.ErrBusy) || sentinel.ErrorCode(err) != sentinel.EUNAVAILABLE {
		t.Fatalf("past the bound: got %v, want ErrBusy", err)
	}
	close(s.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if sentinel.ErrorCode(err) != sentinel.ENOTFOUND {
			t.Fatalf("shared answer: got %v, want ENOTFOUND", err)
		}
	}
	if n := s.calls.Load(); n > 4 || n < 1 {
		t.Fatalf("calls = %d", n)
	}
}

// slowCreates holds CreateBinding until released, counting the calls.
type slowCreates struct {
	sentinel.BindingStore
	calls   atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func (s *slowCreates) CreateBinding(ctx context.Context, b sentinel.Binding) (sentinel.Binding, bool, error) {
	s.calls.Add(1)
	s.entered <- struct{}{}
	<-s.release
	return s.BindingStore.CreateBinding(ctx, b)
}

// TestGateFirstUseRaceTakesOneSlot: many first uses of one key at once
// (a client's burst on a new key) share one store call and one slot of
// the bound: exactly one creates, the others get its binding, and none is
// refused as busy.
func TestGateFirstUseRaceTakesOneSlot(t *testing.T) {
	s := &slowCreates{BindingStore: memory.NewBindingStore(memory.BindingStoreOptions{}),
		entered: make(chan struct{}, 64), release: make(chan struct{})}
	g := sentinel.NewGate(s, sentinel.GateOptions{MaxInflight: 2})
	const racers = 32
	type result struct {
		b       sentinel.Binding
		created bool
		err     error
	}
	results := make(chan result, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := sentinel.Binding{Key: key("burst"), Hint: "sk-…", Rule: sentinel.SingleRule(netip.MustParsePrefix("192.0.2.1/32")),
				Status: sentinel.StatusActive, FirstIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})}
			b.LastIP = b.FirstIP
			got, created, err := g.CreateBinding(context.Background(), b)
			results <- result{got, created, err}
		}()
	}
	<-s.entered // the leader's call is in flight; give the others time to queue behind it
	for range 100 {
		if _, err := g.FindBinding(context.Background(), key("burst")); err != nil && sentinel.ErrorCode(err) != sentinel.ENOTFOUND {
			t.Fatalf("a lookup beside the race: %v", err)
		}
	}
	close(s.release)
	wg.Wait()
	close(results)
	created := 0
	var first netip.Addr
	for r := range results {
		if r.err != nil {
			t.Fatalf("a racer got %v", r.err)
		}
		if r.created {
			created++
		}
		if !first.IsValid() {
			first = r.b.FirstIP
		} else if r.b.FirstIP != first {
			t.Fatalf("racers saw different bindings: %v and %v", first, r.b.FirstIP)
		}
	}
	if created != 1 {
		t.Fatalf("%d racers created the binding, want exactly 1", created)
	}
	if n := s.calls.Load(); n < 1 || n > racers {
		t.Fatalf("store calls = %d", n)
	}
}

// TestRateBudget: limit per prefix per minute, a fresh window after it.
func TestRateBudget(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	b := sentinel.NewRateBudget(2, clk)
	p, q := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32")
	for i, want := range []bool{true, true, false} {
		if got := b.Take(p); got != want {
			t.Fatalf("take %d = %v, want %v", i, got, want)
		}
	}
	if !b.Take(q) {
		t.Fatal("another prefix has its own budget")
	}
	clk.Advance(time.Minute)
	if !b.Take(p) {
		t.Fatal("a new window")
	}
	var unlimited *sentinel.RateBudget
	if !unlimited.Take(p) || sentinel.NewRateBudget(0, nil) != nil {
		t.Fatal("no budget allows everything")
	}
}

// TestLookupOnlyNeverBinds and new-key budget in the Binder.
func TestLookupOnlyAndNewKeyBudget(t *testing.T) {
	store := memory.NewBindingStore(memory.BindingStoreOptions{})
	b, err := sentinel.NewBinder(store, sentinel.BinderOptions{Settings: settings(t, sentinel.ModeEnforce),
		NewKeys: sentinel.NewRateBudget(1, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := request("k1", "192.0.2.1")
	r.LookupOnly = true
	d, err := b.Decide(ctx, r)
	if err != nil || !d.Allow || !d.Unbound || d.Created {
		t.Fatalf("lookup only: %+v %v", d, err)
	}
	r.LookupOnly, r.Hint = false, "k1…hint"
	if d, err = b.Decide(ctx, r); err != nil || !d.Created {
		t.Fatalf("first use: %+v %v", d, err)
	}
	if got, _ := store.FindBinding(ctx, r.Key); got.Hint != "k1…hint" {
		t.Fatalf("hint = %q, want the request's", got.Hint)
	}
	d, err = b.Decide(ctx, request("k2", "192.0.2.1"))
	if err != nil || d.Allow || d.Reason != sentinel.ReasonTooManyNewKeys {
		t.Fatalf("past the budget: %+v %v", d, err)
	}
	if _, err := store.FindBinding(ctx, key("k2")); sentinel.ErrorCode(err) != sentinel.ENOTFOUND {
		t.Fatalf("past the budget nothing is written: %v", err)
	}
}
