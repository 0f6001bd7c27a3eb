package sentinel

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// RateBudget counts events per client prefix in one-minute windows and
// refuses them past a limit: the per-address budget of new bindings
// (SENTINEL_NEW_BINDINGS_PER_IP) and of intercept rows
// (SENTINEL_INTERCEPTS_PER_IP), so unauthenticated traffic cannot grow the
// store or the log without bound. In process, allocation-free once a
// prefix is counted; its memory is bounded by MaxEntries per window.
type RateBudget struct {
	limit  int
	window time.Duration
	clock  Clock
	seed   maphash.Seed
	shards [budgetShards]budgetShard
}

const budgetShards = 16

// MaxBudgetEntries bounds the prefixes one RateBudget counts per window
// (per shard: MaxBudgetEntries/16). Past it, new prefixes are refused for
// the rest of the window: a flood from more addresses than that is a flood.
const MaxBudgetEntries = 1 << 16

type budgetShard struct {
	mu     sync.Mutex
	start  time.Time
	counts map[netip.Prefix]int
}

// NewRateBudget returns a budget of limit events per prefix per minute;
// limit 0 or less returns nil, which Take treats as unlimited.
func NewRateBudget(limit int, clock Clock) *RateBudget {
	if limit <= 0 {
		return nil
	}
	if clock == nil {
		clock = SystemClock{}
	}
	b := &RateBudget{limit: limit, window: time.Minute, clock: clock, seed: maphash.MakeSeed()}
	for i := range b.shards {
		b.shards[i].counts = make(map[netip.Prefix]int)
	}
	return b
}

// Take counts one event for p and reports whether it is within the budget.
// A nil RateBudget allows everything.
func (b *RateBudget) Take(p netip.Prefix) bool {
	if b == nil {
		return true
	}
	a := p.Addr().As16()
	s := &b.shards[maphash.Bytes(b.seed, a[:])%budgetShards]
	now := b.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.start) >= b.window || now.Before(s.start) {
		clear(s.counts)
		s.start = now
	}
	n, ok := s.counts[p]
	if !ok && len(s.counts) >= MaxBudgetEntries/budgetShards {
		return false
	}
	if n >= b.limit {
		return false
	}
	s.counts[p] = n + 1
	return true
}
