package sentinel_test

import (
	"context"
	"crypto/sha256"
	"net/netip"
	"testing"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/memory"
)

func key(name string) sentinel.KeyHash { return sha256.Sum256([]byte("decision-test:" + name)) }

func request(k, addr string) sentinel.Request {
	return sentinel.Request{Key: key(k), Addr: netip.MustParseAddr(addr), Token: sentinel.Token(k)}
}

func settings(t testing.TB, mode sentinel.Mode) *sentinel.LiveSettings {
	t.Helper()
	s := sentinel.DefaultSettings()
	s.EnforceMode = mode
	l, err := sentinel.NewLiveSettings(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newBinder(t testing.TB, store sentinel.BindingStore, opts sentinel.BinderOptions) *sentinel.Binder {
	t.Helper()
	if opts.Settings == nil {
		opts.Settings = settings(t, sentinel.ModeEnforce)
	}
	b, err := sentinel.NewBinder(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func prefixes(t testing.TB, specs ...string) []netip.Prefix {
	t.Helper()
	ps := make([]netip.Prefix, len(specs))
	for i, s := range specs {
		p, err := sentinel.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	return ps
}

// TestDecide is the decision table: (binding, request) → decision.
func TestDecide(t *testing.T) {
	banned := sentinel.StatusBanned
	cases := []struct {
		name string
		// rule and status of the key's binding; no rule: the key is unbound
		rule   *sentinel.Rule
		status sentinel.Status
		mode   sentinel.Mode
		opts   sentinel.BinderOptions
		addr   string
		want   sentinel.Decision // Version is not compared
		// wantSpec is the binding's rule afterwards, when set
		wantSpec string
	}{
		{name: "first use binds", addr: "192.0.2.1",
			want: sentinel.Decision{Allow: true, Created: true}, wantSpec: "192.0.2.1"},
		{name: "first use binds IPv6 at /64", addr: "2001:db8:1:2::5",
			want: sentinel.Decision{Allow: true, Created: true}, wantSpec: "2001:db8:1:2::/64"},
		{name: "first use with learning", addr: "192.0.2.1", opts: sentinel.BinderOptions{LearnLimit: 3},
			want: sentinel.Decision{Allow: true, Created: true}, wantSpec: "192.0.2.1"},
		{name: "bound address", rule: &sentinel.Rule{Kind: sentinel.RuleSingle, Prefixes: prefixes(t, "192.0.2.1")},
			addr: "192.0.2.1", want: sentinel.Decision{Allow: true}},
		{name: "other address", rule: &sentinel.Rule{Kind: sentinel.RuleSingle, Prefixes: prefixes(t, "192.0.2.1")},
			addr: "192.0.2.2", want: sentinel.Decision{Reason: sentinel.ReasonIPNotAllowed}},
		{name: "other address, monitor", rule: &sentinel.Rule{Kind: sentinel.RuleSingle, Prefixes: prefixes(t, "192.0.2.1")},
			mode: sentinel.ModeMonitor, addr: "192.0.2.2", want: sentinel.Decision{Allow: true, Reason: sentinel.ReasonIPNotAllowed}},
		{name: "mapped address is not normalised here", rule: &sentinel.Rule{Kind: sentinel.RuleSingle, Prefixes: prefixes(t, "192.0.2.1")},
			addr: "::ffff:192.0.2.1", want: sentinel.Decision{Reason: sentinel.ReasonIPNotAllowed}},
		{name: "inside a subnet", rule: &sentinel.Rule{Kind: sentinel.RuleSingle, Prefixes: prefixes(t, "10.0.0.0/8")},
			addr: "10.200.1.1", want: sentinel.Decision{Allow: true}},
		{name: "multiple", rule: &sentinel.Rule{Kind: sentinel.RuleMultiple, Prefixes: prefixes(t, "192.0.2.1", "2001:db8::/48")},
			addr: "2001:db8::9", want: sentinel.Decision{Allow: true}},
		{name: "all", rule: &sentinel.Rule{Kind: sentinel.RuleAll}, addr: "203.0.113.5", want: sentinel.Decision{Allow: true}},
		{name: "banned", rule: &sentinel.Rule{Kind: sentinel.RuleAll}, status: banned,
			addr: "203.0.113.5", want: sentinel.Decision{Reason: sentinel.ReasonBanned}},
		{name: "banned, monitor", rule: &sentinel.Rule{Kind: sentinel.RuleAll}, status: banned, mode: sentinel.ModeMonitor,
			addr: "203.0.113.5", want: sentinel.Decision{Allow: true, Reason: sentinel.ReasonBanned}},
		{name: "banned learner learns nothing", rule: &sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 3, Prefixes: prefixes(t, "192.0.2.1")},
			status: banned, addr: "198.51.100.1", want: sentinel.Decision{Reason: sentinel.ReasonBanned}, wantSpec: "192.0.2.1"},
		{name: "learner with room learns", rule: &sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 2, Prefixes: prefixes(t, "192.0.2.1")},
			addr: "198.51.100.1", want: sentinel.Decision{Allow: true}, wantSpec: "192.0.2.1,198.51.100.1"},
		{name: "learner learns at the granularity", rule: &sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 2, Prefixes: prefixes(t, "192.0.2.0/24")},
			opts: sentinel.BinderOptions{Granularity: sentinel.Granularity{IPv4Bits: 24}},
			addr: "198.51.100.77", want: sentinel.Decision{Allow: true}, wantSpec: "192.0.2.0/24,198.51.100.0/24"},
		{name: "full learner is locked", rule: &sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 2, Prefixes: prefixes(t, "192.0.2.1", "192.0.2.2")},
			addr: "192.0.2.3", want: sentinel.Decision{Reason: sentinel.ReasonIPNotAllowed}, wantSpec: "192.0.2.1,192.0.2.2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			store := memory.NewBindingStore(memory.BindingStoreOptions{})
			if c.rule != nil {
				b := sentinel.Binding{Key: key("k"), Rule: *c.rule, Status: sentinel.StatusActive,
					FirstIP: netip.MustParseAddr("192.0.2.1"), CreatedAt: time.Now()}
				if c.status != "" {
					b.Status = c.status
				}
				if _, _, err := store.CreateBinding(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			opts := c.opts
			if c.mode != "" {
				opts.Settings = settings(t, c.mode)
			}
			d, err := newBinder(t, store, opts).Decide(ctx, request("k", c.addr))
			if err != nil {
				t.Fatal(err)
			}
			stored, err := store.FindBinding(ctx, key("k"))
			if err != nil {
				t.Fatal(err)
			}
			if d.Version != stored.Version {
				t.Errorf("decided against version %d, the store holds %d", d.Version, stored.Version)
			}
			d.Version = 0
			if d != c.want {
				t.Errorf("decision %+v, want %+v", d, c.want)
			}
			if c.wantSpec != "" && stored.Rule.Spec() != c.wantSpec {
				t.Errorf("rule afterwards %q, want %q", stored.Rule.Spec(), c.wantSpec)
			}
		})
	}
}

// TestDecideFollowsLiveSettings: the mode is read on every decision, so a
// change through LiveSettings applies to the next one.
func TestDecideFollowsLiveSettings(t *testing.T) {
	ctx := context.Background()
	live := settings(t, sentinel.ModeEnforce)
	b := newBinder(t, memory.NewBindingStore(memory.BindingStoreOptions{}), sentinel.BinderOptions{Settings: live})
	if _, err := b.Decide(ctx, request("k", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []sentinel.Mode{sentinel.ModeMonitor, sentinel.ModeEnforce} {
		s := *live.Load()
		s.EnforceMode = mode
		if err := live.Store(s); err != nil {
			t.Fatal(err)
		}
		d, err := b.Decide(ctx, request("k", "192.0.2.2"))
		if err != nil {
			t.Fatal(err)
		}
		if want := mode == sentinel.ModeMonitor; d.Allow != want || d.Reason != sentinel.ReasonIPNotAllowed {
			t.Errorf("%s: decision %+v, want Allow %v with reason %s", mode, d, want, sentinel.ReasonIPNotAllowed)
		}
	}
}

// TestDecideLearnsUpToTheLimit walks a learn rule from its first use to
// locked, as one key used from ever more networks.
func TestDecideLearnsUpToTheLimit(t *testing.T) {
	ctx := context.Background()
	store := memory.NewBindingStore(memory.BindingStoreOptions{})
	b := newBinder(t, store, sentinel.BinderOptions{LearnLimit: 3, Granularity: sentinel.Granularity{IPv4Bits: 24}})
	steps := []struct {
		addr  string
		allow bool
	}{
		{"192.0.2.1", true}, {"192.0.2.99", true}, {"198.51.100.1", true}, {"203.0.113.1", true},
		{"192.0.2.7", true}, {"198.51.100.200", true}, {"192.0.3.1", false},
	}
	for _, s := range steps {
		d, err := b.Decide(ctx, request("k", s.addr))
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow != s.allow {
			t.Errorf("%s: Allow %v, want %v", s.addr, d.Allow, s.allow)
		}
	}
	got, err := store.FindBinding(ctx, key("k"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "192.0.2.0/24,198.51.100.0/24,203.0.113.0/24"; got.Rule.Spec() != want {
		t.Errorf("rule %q, want %q", got.Rule.Spec(), want)
	}
}

func TestUnauthorized(t *testing.T) {
	all := sentinel.Rule{Kind: sentinel.RuleAll}
	cases := []struct {
		name string
		// between runs between the first use and the 401
		between func(t *testing.T, b *sentinel.Binder, s sentinel.BindingStore) sentinel.Decision
		kept    bool
	}{
		{name: "a first use refused 401 is forgotten", kept: false},
		{name: "a binding an operator changed meanwhile is kept", kept: true,
			between: func(t *testing.T, _ *sentinel.Binder, s sentinel.BindingStore) sentinel.Decision {
				if _, err := s.UpdateBinding(context.Background(), key("k"), sentinel.BindingUpdate{Rule: &all}); err != nil {
					t.Fatal(err)
				}
				return sentinel.Decision{}
			}},
		{name: "a decision that did not create the binding removes nothing", kept: true,
			between: func(t *testing.T, b *sentinel.Binder, _ sentinel.BindingStore) sentinel.Decision {
				d, err := b.Decide(context.Background(), request("k", "192.0.2.1"))
				if err != nil || d.Created {
					t.Fatalf("second use: %+v, %v", d, err)
				}
				return d
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			store := memory.NewBindingStore(memory.BindingStoreOptions{})
			b := newBinder(t, store, sentinel.BinderOptions{})
			req := request("k", "192.0.2.1")
			d, err := b.Decide(ctx, req)
			if err != nil || !d.Created {
				t.Fatalf("first use: %+v, %v", d, err)
			}
			if c.between != nil {
				if d2 := c.between(t, b, store); d2.Version != 0 {
					d = d2
				}
			}
			if err := b.Unauthorized(ctx, req, d); err != nil {
				t.Fatal(err)
			}
			_, err = store.FindBinding(ctx, req.Key)
			if kept := err == nil; kept != c.kept {
				t.Errorf("kept %v, want %v (err %v)", kept, c.kept, err)
			}
		})
	}
}

func TestBinderOptionsAreValidated(t *testing.T) {
	store := memory.NewBindingStore(memory.BindingStoreOptions{})
	live := settings(t, sentinel.ModeEnforce)
	for _, o := range []sentinel.BinderOptions{
		{},
		{Settings: live, Granularity: sentinel.Granularity{IPv4Bits: 40}},
		{Settings: live, LearnLimit: -1},
		{Settings: live, LearnLimit: 10_000},
	} {
		if _, err := sentinel.NewBinder(store, o); sentinel.ErrorCode(err) != sentinel.EINVALID {
			t.Errorf("%+v: %v, want EINVALID", o, err)
		}
	}
	_, err := newBinder(t, store, sentinel.BinderOptions{}).Decide(context.Background(), sentinel.Request{Key: key("k")})
	if sentinel.ErrorCode(err) != sentinel.EINVALID {
		t.Errorf("a request without an address: %v, want EINVALID", err)
	}
}

// warmBinder returns a Binder whose store has req's key bound.
func warmBinder(b *testing.B) (*sentinel.Binder, sentinel.Request) {
	g := newBinder(b, memory.NewBindingStore(memory.BindingStoreOptions{}), sentinel.BinderOptions{})
	req := request("k", "192.0.2.1")
	if _, err := g.Decide(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	return g, req
}

// BenchmarkDecideWarm is the decision on a known key whose binding is in
// memory: the cost the domain adds to every request (the in-process
// cache in front of a database store has its own benchmark).
func BenchmarkDecideWarm(b *testing.B) {
	ctx := context.Background()
	g, req := warmBinder(b)
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
	g, req := warmBinder(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, err := g.Decide(ctx, req); err != nil || !d.Allow {
				b.Fatal(d, err)
			}
		}
	})
}
