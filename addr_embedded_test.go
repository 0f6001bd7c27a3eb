package sentinel_test

import (
	"net/netip"
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
)

// TestEmbeddedIPv4IsBoundLikeIPv4: an IPv6 address that carries an IPv4
// client (NAT64, IPv4-compatible, 6to4) is bound like that IPv4 address,
// never at /64, which would cover every IPv4 client behind the translator
// (issue 8, item 8).
func TestEmbeddedIPv4IsBoundLikeIPv4(t *testing.T) {
	cases := []struct {
		name string
		g    sentinel.Granularity
		addr string
		want string
	}{
		{"nat64", sentinel.Granularity{}, "64:ff9b::10.1.2.3", "64:ff9b::a01:203/128"},
		{"nat64 other client", sentinel.Granularity{}, "64:ff9b::198.51.100.77", "64:ff9b::c633:644d/128"},
		{"nat64 at an IPv4 /24", sentinel.Granularity{IPv4Bits: 24}, "64:ff9b::198.51.100.77", "64:ff9b::c633:6400/120"},
		{"local-use nat64", sentinel.Granularity{}, "64:ff9b:1:ab::c633:644d", "64:ff9b:1:ab::c633:644d/128"},
		{"ipv4-compatible", sentinel.Granularity{}, "::198.51.100.77", "::c633:644d/128"},
		{"6to4", sentinel.Granularity{}, "2002:c633:644d:1::5", "2002:c633:644d::/48"},
		{"6to4 at an IPv4 /24", sentinel.Granularity{IPv4Bits: 24}, "2002:c633:644d:1::5", "2002:c633:6400::/40"},
		{"loopback stays /64", sentinel.Granularity{}, "::1", "::/64"},
		{"unspecified stays /64", sentinel.Granularity{}, "::", "::/64"},
		{"plain ipv6", sentinel.Granularity{}, "2001:db8:1:2::7", "2001:db8:1:2::/64"},
		{"plain ipv6 /56", sentinel.Granularity{IPv6Bits: 56}, "2001:db8:1:2::7", "2001:db8:1::/56"},
		{"ipv4", sentinel.Granularity{}, "198.51.100.77", "198.51.100.77/32"},
		{"ipv4-mapped", sentinel.Granularity{}, "::ffff:198.51.100.77", "198.51.100.77/32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := netip.MustParseAddr(c.addr)
			got := c.g.Prefix(a)
			if got.String() != c.want {
				t.Fatalf("Prefix(%s) = %s, want %s", c.addr, got, c.want)
			}
			if !got.Contains(sentinel.NormalizeAddr(a)) {
				t.Fatalf("Prefix(%s) = %s does not contain the address it was made for", c.addr, got)
			}
		})
	}

	g := sentinel.Granularity{}
	p1 := g.Prefix(netip.MustParseAddr("64:ff9b::10.1.2.3"))
	p2 := g.Prefix(netip.MustParseAddr("64:ff9b::198.51.100.77"))
	if p1 == p2 || p1.Contains(netip.MustParseAddr("64:ff9b::198.51.100.77")) {
		t.Fatalf("two IPv4 clients behind one NAT64 share a binding prefix: %s and %s", p1, p2)
	}
}

func TestEmbeddedIPv4(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" for none
	}{
		{"64:ff9b::198.51.100.77", "198.51.100.77"},
		{"2002:c000:0204::1", "192.0.2.4"},
		{"::10.1.2.3", "10.1.2.3"},
		{"::1", ""}, {"::", ""}, {"2001:db8::1", ""}, {"64:ff9b:1::1", ""}, {"203.0.113.7", ""},
	} {
		got, ok := sentinel.EmbeddedIPv4(netip.MustParseAddr(c.in))
		if c.want == "" {
			if ok {
				t.Errorf("EmbeddedIPv4(%s) = %v, want none", c.in, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(c.want) {
			t.Errorf("EmbeddedIPv4(%s) = %v, %v; want %s", c.in, got, ok, c.want)
		}
	}
}
