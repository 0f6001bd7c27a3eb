package sentinel_test

import (
	"net/netip"
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
)

func TestParseRule(t *testing.T) {
	cases := []struct {
		kind, spec string
		limit      int
		wantSpec   string
		wantErr    string
	}{
		{"single", "192.0.2.1", 0, "192.0.2.1", ""},
		{"single", " 10.1.2.3/8 ", 0, "10.0.0.0/8", ""},
		{"single", "::ffff:192.0.2.1", 0, "192.0.2.1", ""},
		{"single", "::ffff:10.0.0.0/104", 0, "10.0.0.0/8", ""},
		{"single", "2001:db8::1/64", 0, "2001:db8::/64", ""},
		{"SINGLE", "192.0.2.1", 0, "192.0.2.1", ""},
		{"single", "192.0.2.1, 192.0.2.2", 0, "", "exactly one"},
		{"single", "", 0, "", "exactly one"},
		{"single", "nonsense", 0, "", "not an IP address"},
		{"single", "10.0.0.0/33", 0, "", "not an IP address or CIDR"},
		{"multiple", "192.0.2.1,10.0.0.0/8 2001:db8::/48;192.0.2.1", 0, "192.0.2.1,10.0.0.0/8,2001:db8::/48", ""},
		{"multiple", "", 0, "", "at least one"},
		{"all", "", 0, "", ""},
		{"all", "192.0.2.1", 0, "", ""}, // the list is ignored
		{"learn", "", 3, "", ""},
		{"learn", "192.0.2.1", 0, "", "limit between 1 and"},
		{"learn", "192.0.2.1,192.0.2.2", 1, "", "more than its limit"},
		{"allow", "192.0.2.1", 0, "", `unknown rule kind "allow"`},
		{"", "192.0.2.1", 0, "", "rule kind is missing"},
	}
	for _, c := range cases {
		r, err := sentinel.ParseRule(c.kind, c.spec, c.limit)
		if c.wantErr != "" {
			mustError(t, err, "%s %q", c.kind, c.spec)
			checkEqual(t, sentinel.EINVALID, sentinel.ErrorCode(err))
			checkContains(t, err.Error(), c.wantErr)
			continue
		}
		mustNoError(t, err, "%s %q", c.kind, c.spec)
		checkEqual(t, c.wantSpec, r.Spec())
	}
}

func TestRuleAllows(t *testing.T) {
	multi, err := sentinel.ParseRule("multiple", "192.0.2.1, 10.0.0.0/8, 2001:db8::/48", 0)
	mustNoError(t, err)
	for addr, want := range map[string]bool{
		"192.0.2.1": true, "192.0.2.2": false, "10.200.0.1": true, "2001:db8:0:ffff::1": true,
		"2001:db9::1": false, "11.0.0.1": false,
	} {
		checkEqual(t, want, multi.Allows(netip.MustParseAddr(addr)), addr)
	}
	all := sentinel.Rule{Kind: sentinel.RuleAll}
	checkTrue(t, all.Allows(netip.MustParseAddr("203.0.113.1")))
	learn := sentinel.Rule{Kind: sentinel.RuleLearn, Limit: 2, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}}
	checkTrue(t, learn.CanLearn())
	checkFalse(t, learn.Allows(netip.MustParseAddr("192.0.2.2")))
}

func TestGranularity(t *testing.T) {
	var g sentinel.Granularity
	checkEqual(t, "192.0.2.7/32", g.Prefix(netip.MustParseAddr("192.0.2.7")).String())
	checkEqual(t, "192.0.2.7/32", g.Prefix(netip.MustParseAddr("::ffff:192.0.2.7")).String())
	checkEqual(t, "2001:db8:1:2::/64", g.Prefix(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")).String())
	g = sentinel.Granularity{IPv4Bits: 24, IPv6Bits: 56}
	mustNoError(t, g.Validate())
	checkEqual(t, "192.0.2.0/24", g.Prefix(netip.MustParseAddr("192.0.2.7")).String())
	checkEqual(t, "2001:db8:1::/56", g.Prefix(netip.MustParseAddr("2001:db8:1:2::1")).String())
	checkError(t, sentinel.Granularity{IPv4Bits: 33}.Validate())
	checkError(t, sentinel.Granularity{IPv6Bits: 129}.Validate())
	checkFalse(t, g.Prefix(netip.Addr{}).IsValid())
}

func FuzzParseRule(f *testing.F) {
	f.Add("single", "192.0.2.1", 0)
	f.Add("single", "10.0.0.0/8", 0)
	f.Add("multiple", "192.0.2.1, 10.0.0.0/8;2001:db8::/48", 0)
	f.Add("all", "", 0)
	f.Add("learn", "::ffff:192.0.2.1", 3)
	f.Add("single", "fe80::1%eth0", 0)
	f.Add("multiple", "::ffff:0.0.0.0/95", 0)
	f.Fuzz(func(t *testing.T, kind, spec string, limit int) {
		r, err := sentinel.ParseRule(kind, spec, limit)
		if err != nil {
			if sentinel.ErrorCode(err) != sentinel.EINVALID {
				t.Fatalf("error without EINVALID: %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed rule is invalid: %v", err)
		}
		again, err := sentinel.ParseRule(string(r.Kind), r.Spec(), r.Limit)
		if err != nil {
			t.Fatalf("Spec %q does not parse back: %v", r.Spec(), err)
		}
		if !again.Equal(r) {
			t.Fatalf("round trip changed the rule: %+v -> %+v", r, again)
		}
		for _, p := range r.Prefixes {
			if p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("prefix %v is not normalised", p)
			}
		}
	})
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::ffff:192.0.2.1", "fe80::1%eth0", "2001:db8::1", " 10.0.0.1 ", "1.2.3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := sentinel.ParseAddr(s)
		if err != nil {
			return
		}
		if a.Is4In6() || a.Zone() != "" {
			t.Fatalf("%q parsed to a non-normalised %v", s, a)
		}
		b, err := sentinel.ParseAddr(a.String())
		if err != nil || a != b {
			t.Fatalf("%v does not round-trip: %v %v", a, b, err)
		}
	})
}
