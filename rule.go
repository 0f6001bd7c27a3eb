package sentinel

import (
	"net/netip"
	"strings"
)

// RuleKind names how a binding matches client addresses.
type RuleKind string

// Rule kinds. Single, multiple and all are the seed's; learn is ours.
const (
	RuleSingle   RuleKind = "single"   // one IP or one CIDR
	RuleMultiple RuleKind = "multiple" // a list of IPs and/or CIDRs
	RuleAll      RuleKind = "all"      // any source address
	RuleLearn    RuleKind = "learn"    // up to Limit distinct prefixes, learned on first use from each
)

// MaxRulePrefixes bounds the prefixes of one rule; a longer list is a
// mistake, and every check walks the list.
const MaxRulePrefixes = 256

// Rule decides which client addresses may use a key.
type Rule struct {
	Kind RuleKind
	// Prefixes are the allowed networks: exactly one for single, one or more
	// for multiple, the ones learned so far (at most Limit) for learn, none
	// for all.
	Prefixes []netip.Prefix
	// Limit is, for learn, how many distinct prefixes the key may be used
	// from; the rule locks once that many are learned. Zero for other kinds.
	Limit int
}

// SingleRule returns the rule that allows p only.
func SingleRule(p netip.Prefix) Rule {
	return Rule{Kind: RuleSingle, Prefixes: []netip.Prefix{p}}
}

// ParseRule builds a rule from its kind, its address list (IPs and CIDRs
// separated by commas or white space; ignored for "all") and, for "learn",
// its limit. It returns EINVALID, naming what is wrong.
func ParseRule(kind, spec string, limit int) (Rule, error) {
	r := Rule{Kind: RuleKind(strings.ToLower(strings.TrimSpace(kind)))}
	if r.Kind != RuleAll {
		ps, err := ParsePrefixList(spec)
		if err != nil {
			return Rule{}, err
		}
		r.Prefixes = ps
	}
	if r.Kind == RuleLearn {
		r.Limit = limit
	}
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// Validate returns EINVALID when the rule is not well formed.
func (r Rule) Validate() error {
	if len(r.Prefixes) > MaxRulePrefixes {
		return Errorf(EINVALID, "a rule may list at most %d addresses or CIDRs, got %d", MaxRulePrefixes, len(r.Prefixes))
	}
	for _, p := range r.Prefixes {
		if !p.IsValid() {
			return Errorf(EINVALID, "rule contains an invalid prefix")
		}
	}
	switch r.Kind {
	case RuleSingle:
		if len(r.Prefixes) != 1 {
			return Errorf(EINVALID, "rule single takes exactly one IP or CIDR, got %d", len(r.Prefixes))
		}
	case RuleMultiple:
		if len(r.Prefixes) == 0 {
			return Errorf(EINVALID, "rule multiple takes at least one IP or CIDR")
		}
	case RuleAll:
		if len(r.Prefixes) != 0 {
			return Errorf(EINVALID, "rule all takes no addresses")
		}
	case RuleLearn:
		if r.Limit < 1 || r.Limit > MaxRulePrefixes {
			return Errorf(EINVALID, "rule learn needs a limit between 1 and %d, got %d", MaxRulePrefixes, r.Limit)
		}
		if len(r.Prefixes) > r.Limit {
			return Errorf(EINVALID, "rule learn lists %d addresses, more than its limit %d", len(r.Prefixes), r.Limit)
		}
	default:
		return r.validKind()
	}
	return nil
}

func (r Rule) validKind() error {
	switch r.Kind {
	case RuleSingle, RuleMultiple, RuleAll, RuleLearn:
		return nil
	case "":
		return Errorf(EINVALID, "rule kind is missing; use single, multiple, all or learn")
	}
	return Errorf(EINVALID, "unknown rule kind %q; use single, multiple, all or learn", truncate(string(r.Kind), 32))
}

// Allows reports whether a client at a may use the key. It does not
// allocate: the hot path calls it on every request.
func (r Rule) Allows(a netip.Addr) bool {
	if r.Kind == RuleAll {
		return true
	}
	return ContainsAddr(r.Prefixes, a)
}

// CanLearn reports whether the rule would still learn a new prefix.
func (r Rule) CanLearn() bool {
	return r.Kind == RuleLearn && len(r.Prefixes) < r.Limit
}

// Spec returns the address list in canonical form: host prefixes as plain
// addresses, networks as CIDRs, separated by commas. ParseRule accepts it.
func (r Rule) Spec() string {
	var b strings.Builder
	for i, p := range r.Prefixes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(FormatPrefix(p))
	}
	return b.String()
}

// FormatPrefix prints a host prefix as a plain address and any other prefix
// as a CIDR.
func FormatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Equal reports whether r and o are the same rule.
func (r Rule) Equal(o Rule) bool {
	if r.Kind != o.Kind || r.Limit != o.Limit || len(r.Prefixes) != len(o.Prefixes) {
		return false
	}
	for i := range r.Prefixes {
		if r.Prefixes[i] != o.Prefixes[i] {
			return false
		}
	}
	return true
}
