package sentinel

import (
	"context"
	"net/netip"
	"time"
)

// Mode is how refusals are enforced.
type Mode string

// Enforcement modes.
const (
	// ModeEnforce refuses what the rules refuse.
	ModeEnforce Mode = "enforce"
	// ModeMonitor refuses nothing: would-be refusals are recorded (with
	// Enforced false) and the request goes through. For rolling out safely.
	ModeMonitor Mode = "monitor"
)

// Validate returns EINVALID for an unknown mode.
func (m Mode) Validate() error {
	switch m {
	case ModeEnforce, ModeMonitor:
		return nil
	}
	return Errorf(EINVALID, "unknown enforcement mode %q; use enforce or monitor", truncate(string(m), 32))
}

// FailsafeMode is what happens to a key-bearing request when no decision
// can be made because the stores are unreachable.
type FailsafeMode string

// Failsafe modes (SENTINEL_FAILSAFE_MODE).
const (
	FailsafeClosed FailsafeMode = "closed" // answer 503
	FailsafeOpen   FailsafeMode = "open"   // forward unchecked, and say so in the logs
)

// Validate returns EINVALID for an unknown failsafe mode.
func (m FailsafeMode) Validate() error {
	switch m {
	case FailsafeClosed, FailsafeOpen:
		return nil
	}
	return Errorf(EINVALID, "unknown failsafe mode %q; use closed or open", truncate(string(m), 32))
}

// Request is what a decision is made on: one key used from one address.
type Request struct {
	Key   KeyHash
	Addr  netip.Addr // normalised client address
	Token Token      // the normalised key, only to derive a new binding's masked hint
	// Hint is the masked key shown to people for a new binding; empty
	// derives it from Token when (and only when) a binding is made, with
	// "sk-" as WroteSK says (Token.MaskAs), so deciding a known key costs no
	// allocation for a hint it does not need.
	Hint string
	// WroteSK says the client wrote the key with "sk-" (New API's model
	// keys): the derived hint then shows it, and otherwise does not.
	WroteSK bool
	// LookupOnly decides against an existing binding but never creates
	// one: for routes where the gateway does not authenticate keys, so a
	// junk key sent there leaves nothing behind. An unbound key is then
	// allowed (Decision.Unbound).
	LookupOnly bool
}

// Decision is the answer to a Request.
type Decision struct {
	// Allow says whether to forward the request.
	Allow bool
	// Reason is set when the rules refuse the request, including when
	// monitor mode lets it through anyway (Allow true): then it is what
	// would have been refused.
	Reason Reason
	// Created is true when this request made the key's first-use binding.
	Created bool
	// Version is the version of the binding decided against.
	Version int64
	// Unbound is true when the key has no binding and none was made
	// (Request.LookupOnly, or the new-key budget in monitor mode).
	Unbound bool
}

// Decider is the port the proxy asks before forwarding a key-bearing request.
type Decider interface {
	// Decide decides whether the key in req may be used from req.Addr,
	// binding the key on first use. An error means no decision could be
	// made (EUNAVAILABLE when the stores cannot be reached); the caller
	// then applies its failsafe mode.
	Decide(ctx context.Context, req Request) (Decision, error)

	// Unauthorized reports that the downstream answered 401 to a request
	// whose decision d created the binding: the key is not a key, and its
	// binding is removed again unless it changed meanwhile, so scanners'
	// random keys do not fill the store.
	Unauthorized(ctx context.Context, req Request, d Decision) error
}

// SystemClock is the real time, the Clock every option defaults to
// (adapters/clock.System names it for wiring). A type, not a variable:
// nothing can swap the time for the whole process.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Clock tells the time; tests substitute a manual one.
type Clock interface {
	Now() time.Time
}

// BinderOptions configure a Binder. Apart from Settings the zero value is a
// valid configuration: IPv4 /32 and IPv6 /64 bindings, single-address
// rules, real time.
type BinderOptions struct {
	// Settings is where the enforcement mode is read on every decision
	// (required): the one home of the mode, shared with the HTTP
	// middleware, so a change applies to both at once.
	Settings    *LiveSettings
	Granularity Granularity
	// LearnLimit, when above 1, gives new bindings a learn rule with this
	// limit instead of a single rule: the key may then be used from that
	// many distinct addresses (at binding granularity) before it locks.
	LearnLimit int
	// NewKeys, when set, is the budget of new bindings per client prefix
	// (at binding granularity): past it a first use is refused with
	// ReasonTooManyNewKeys (in monitor mode allowed, unbound) and nothing is
	// written, so a flood of random keys cannot fill the store or queue
	// on the authority. Keys already bound are never counted.
	NewKeys *RateBudget
	Clock   Clock
}

// Binder is the Decider: first-use binding and rule checks over a
// BindingStore.
type Binder struct {
	store BindingStore
	opts  BinderOptions
}

var _ Decider = (*Binder)(nil)

// NewBinder returns a Binder deciding against store. It returns EINVALID for
// bad options.
func NewBinder(store BindingStore, opts BinderOptions) (*Binder, error) {
	if store == nil {
		return nil, Errorf(EINVALID, "a Binder needs a BindingStore")
	}
	if opts.Settings == nil {
		return nil, Errorf(EINVALID, "a Binder needs live settings (BinderOptions.Settings) to read the enforcement mode from")
	}
	if err := opts.Granularity.Validate(); err != nil {
		return nil, err
	}
	if opts.LearnLimit < 0 || opts.LearnLimit > MaxRulePrefixes {
		return nil, Errorf(EINVALID, "learn limit must be between 0 (off) and %d, got %d", MaxRulePrefixes, opts.LearnLimit)
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	return &Binder{store: store, opts: opts}, nil
}

// Decide implements Decider.
func (g *Binder) Decide(ctx context.Context, req Request) (Decision, error) {
	if !req.Addr.IsValid() {
		return Decision{}, Errorf(EINVALID, "request has no client address")
	}
	b, err := g.store.FindBinding(ctx, req.Key)
	if ErrorCode(err) == ENOTFOUND {
		if req.LookupOnly {
			return Decision{Allow: true, Unbound: true}, nil
		}
		if g.opts.NewKeys != nil && !g.opts.NewKeys.Take(g.opts.Granularity.Prefix(req.Addr)) {
			d := g.refuse(ReasonTooManyNewKeys, 0)
			d.Unbound = true
			return d, nil
		}
		var created bool
		b, created, err = g.store.CreateBinding(ctx, g.newBinding(req))
		if err == nil && created {
			return Decision{Allow: true, Created: true, Version: b.Version}, nil
		}
		// Another request bound the key first: decide against its binding.
	}
	if err != nil {
		return Decision{}, err
	}
	return g.judge(ctx, req, b)
}

func (g *Binder) judge(ctx context.Context, req Request, b Binding) (Decision, error) {
	if b.Status == StatusActive && !b.Rule.Allows(req.Addr) && b.Rule.CanLearn() {
		lb, _, err := g.store.LearnPrefix(ctx, req.Key, g.opts.Granularity.Prefix(req.Addr))
		if err != nil {
			return Decision{}, err
		}
		// Concurrent requests from other addresses may have filled the rule
		// first, or an operator changed it: the store's answer is the truth.
		b = lb
	}
	switch {
	case b.Status == StatusBanned:
		return g.refuse(ReasonBanned, b.Version), nil
	case b.Rule.Allows(req.Addr):
		return Decision{Allow: true, Version: b.Version}, nil
	}
	return g.refuse(ReasonIPNotAllowed, b.Version), nil
}

func (g *Binder) refuse(r Reason, version int64) Decision {
	return Decision{Allow: g.opts.Settings.Load().EnforceMode == ModeMonitor, Reason: r, Version: version}
}

func (g *Binder) newBinding(req Request) Binding {
	now := g.opts.Clock.Now().UTC()
	p := g.opts.Granularity.Prefix(req.Addr)
	rule := SingleRule(p)
	if g.opts.LearnLimit > 1 {
		rule = Rule{Kind: RuleLearn, Limit: g.opts.LearnLimit, Prefixes: []netip.Prefix{p}}
	}
	hint := req.Hint
	if hint == "" {
		hint = req.Token.MaskAs(req.WroteSK)
	}
	return Binding{
		Key:        req.Key,
		Hint:       hint,
		Rule:       rule,
		Status:     StatusActive,
		FirstIP:    req.Addr,
		LastIP:     req.Addr,
		CreatedAt:  now,
		UpdatedAt:  now,
		LastUsedAt: now,
	}
}

// Unauthorized implements Decider.
func (g *Binder) Unauthorized(ctx context.Context, req Request, d Decision) error {
	if !d.Created {
		return nil
	}
	_, err := g.store.DeleteBinding(ctx, req.Key, d.Version)
	switch ErrorCode(err) {
	case ENOTFOUND, ECONFLICT:
		return nil // already gone, or an operator or another use changed it: keep it
	}
	return err
}
