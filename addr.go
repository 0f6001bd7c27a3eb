package sentinel

import (
	"net/netip"
	"strings"
)

// NormalizeAddr returns a in the form every comparison uses: an IPv4-mapped
// IPv6 address becomes plain IPv4 and any zone is dropped.
func NormalizeAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// ParseAddr parses an IPv4 or IPv6 address and normalises it (see
// NormalizeAddr). It returns EINVALID for anything else.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, Errorf(EINVALID, "%q is not an IP address", truncate(s, 64))
	}
	return NormalizeAddr(a), nil
}

// ParsePrefix parses an address ("203.0.113.7", a host prefix) or a CIDR
// ("10.0.0.0/8"). Host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8) and an
// IPv4-mapped IPv6 prefix becomes its IPv4 prefix. It returns EINVALID for
// anything else.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, Errorf(EINVALID, "%q is not an IP address or CIDR", truncate(s, 64))
	}
	return NormalizePrefix(p), nil
}

// NormalizePrefix clears host bits and maps an IPv4-mapped IPv6 prefix of
// /96 or longer to the IPv4 prefix it covers.
func NormalizePrefix(p netip.Prefix) netip.Prefix {
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a.WithZone(""), bits).Masked()
}

// ParsePrefixList parses a list of addresses and CIDRs separated by commas,
// white space or semicolons. Duplicates are dropped; order is kept.
func ParsePrefixList(s string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	out := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		p, err := ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = appendUniquePrefix(out, p)
	}
	return out, nil
}

func appendUniquePrefix(ps []netip.Prefix, p netip.Prefix) []netip.Prefix {
	for _, q := range ps {
		if q == p {
			return ps
		}
	}
	return append(ps, p)
}

// ContainsAddr reports whether any of ps contains a.
func ContainsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Granularity is how much of a client address a first-use binding covers.
// IPv6 clients rotate addresses inside their /64, so binding the single
// address would lock them out within hours. The zero value is the default:
// IPv4 /32, IPv6 /64 (a zero field never means "/0").
type Granularity struct {
	IPv4Bits int // 1..32; 0 means 32
	IPv6Bits int // 1..128; 0 means 64
}

// Validate returns EINVALID when a bit count is out of range.
func (g Granularity) Validate() error {
	if g.IPv4Bits < 0 || g.IPv4Bits > 32 {
		return Errorf(EINVALID, "IPv4 binding prefix must be between 1 and 32 bits, got %d", g.IPv4Bits)
	}
	if g.IPv6Bits < 0 || g.IPv6Bits > 128 {
		return Errorf(EINVALID, "IPv6 binding prefix must be between 1 and 128 bits, got %d", g.IPv6Bits)
	}
	return nil
}

// Prefix returns the prefix a first-use binding for a covers. An invalid
// address gives the zero prefix, which contains nothing.
//
// An IPv6 address that carries an IPv4 client is bound like that IPv4
// address, not at the IPv6 granularity: a /64 of the NAT64 prefix would
// cover every IPv4 client behind the translator. The prefix stays in IPv6
// form (offset of the embedded IPv4 plus IPv4Bits), so the next request,
// which arrives with the same IPv6 form, is matched by the plain prefix
// test; the address itself is not rewritten (NormalizeAddr keeps it), so
// logs and operator rules see what the connection saw. Decided here and
// not in NormalizeAddr for that reason. Recognised:
//   - NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): IPv4 in the last 32
//     bits, bound at /(96+IPv4Bits);
//   - IPv4-compatible ::a.b.c.d (deprecated, RFC 4291; not :: or ::1):
//     likewise /(96+IPv4Bits);
//   - 6to4 2002::/16 (RFC 3056): IPv4 in bits 16–47, the /48 behind it is
//     one site, bound at /(16+IPv4Bits);
//   - local-use NAT64 64:ff9b:1::/48 (RFC 8215): where the IPv4 sits
//     depends on the operator's prefix length, so the single address, /128.
func (g Granularity) Prefix(a netip.Addr) netip.Prefix {
	a = NormalizeAddr(a)
	v4 := g.IPv4Bits
	if v4 <= 0 || v4 > 32 {
		v4 = 32
	}
	bits := v4
	if a.Is6() {
		bits = g.IPv6Bits
		if bits <= 0 || bits > 128 {
			bits = 64
		}
		if off, ok := embeddedIPv4Offset(a); ok {
			bits = off + v4
			if off == 128 {
				bits = 128
			}
		}
	}
	p, _ := a.Prefix(bits)
	return p
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	ipv4Compatible = netip.MustParsePrefix("::/96")
)

// EmbeddedIPv4 returns the IPv4 address the IPv6 address a carries (NAT64
// 64:ff9b::/96, 6to4 2002::/16, IPv4-compatible ::a.b.c.d), and whether it
// carries one at a known place. An address of the local-use NAT64 prefix
// 64:ff9b:1::/48 carries one where the operator's prefix length says: it
// reports false (see EmbedsIPv4).
func EmbeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	off, ok := embeddedIPv4Offset(a)
	if !ok || off > 96 {
		return netip.Addr{}, false
	}
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[off/8 : off/8+4])), true
}

// EmbedsIPv4 reports whether a is an IPv6 address that carries an IPv4
// address (EmbeddedIPv4 tells which, when its place is known).
func EmbedsIPv4(a netip.Addr) bool {
	_, ok := embeddedIPv4Offset(a)
	return ok
}

// embeddedIPv4Offset reports where the IPv4 address carried by the IPv6
// address a starts (in bits), or 128 when a carries one at an unknown place.
func embeddedIPv4Offset(a netip.Addr) (int, bool) {
	switch {
	case nat64WellKnown.Contains(a):
		return 96, true
	case nat64LocalUse.Contains(a):
		return 128, true
	case sixToFour.Contains(a):
		return 16, true
	case ipv4Compatible.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		return 96, true
	}
	return 0, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
