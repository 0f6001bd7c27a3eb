package httpproxy_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

// TestClientIPResolver is the resolver's table: (trusted proxies, header,
// peer, header values) → client address or refusal.
func TestClientIPResolver(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	cases := []struct {
		name    string
		trusted []netip.Prefix
		header  string // "" is the default, X-Real-IP
		peer    string
		values  []string // of the header
		want    string   // "" means refused (EINVALID)
	}{
		{name: "untrusted peer is the client", peer: "192.0.2.1:5000", want: "192.0.2.1"},
		{name: "untrusted peer's header is ignored", peer: "192.0.2.1:5000", values: []string{"198.51.100.1"}, want: "192.0.2.1"},
		{name: "no proxy trusted by default", peer: "10.0.0.1:5000", values: []string{"198.51.100.1"}, want: "10.0.0.1"},
		{name: "IPv6 peer", peer: "[2001:db8::1]:5000", want: "2001:db8::1"},
		{name: "IPv4-mapped peer is normalised", peer: "[::ffff:192.0.2.1]:5000", want: "192.0.2.1"},
		{name: "peer without a port", peer: "192.0.2.1", want: "192.0.2.1"},
		{name: "unparsable peer", peer: "nonsense", want: ""},
		{name: "trusted proxy names the client", trusted: proxies, peer: "10.0.0.1:5000", values: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "trusted proxy's last line wins", trusted: proxies, peer: "10.0.0.1:5000", values: []string{"203.0.113.9", "198.51.100.1"}, want: "198.51.100.1"},
		{name: "trusted proxy without the header: its own check", trusted: proxies, peer: "10.0.0.1:5000", want: "10.0.0.1"},
		{name: "trusted proxy sends garbage: refused", trusted: proxies, peer: "10.0.0.1:5000", values: []string{"not-an-ip"}, want: ""},
		{name: "trusted IPv6 proxy", trusted: proxies, peer: "[2001:db8:ffff::1]:443", values: []string{"2001:db8:1::7"}, want: "2001:db8:1::7"},
		{name: "custom header", trusted: proxies, header: "CF-Connecting-IP", peer: "10.0.0.1:5000", values: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "XFF walked from the right past trusted hops", trusted: proxies, header: "X-Forwarded-For", peer: "10.0.0.1:5000",
			values: []string{"203.0.113.66, 198.51.100.1, 10.0.0.2"}, want: "198.51.100.1"},
		{name: "XFF over several lines", trusted: proxies, header: "X-Forwarded-For", peer: "10.0.0.1:5000",
			values: []string{"203.0.113.66, 198.51.100.1", "10.0.0.3"}, want: "198.51.100.1"},
		{name: "XFF all trusted: the furthest is the client", trusted: proxies, header: "X-Forwarded-For", peer: "10.0.0.1:5000",
			values: []string{"10.0.0.9, 10.0.0.2"}, want: "10.0.0.9"},
		{name: "XFF empty entries skipped", trusted: proxies, header: "X-Forwarded-For", peer: "10.0.0.1:5000",
			values: []string{"198.51.100.1, , "}, want: "198.51.100.1"},
		{name: "XFF only empty: refused", trusted: proxies, header: "X-Forwarded-For", peer: "10.0.0.1:5000",
			values: []string{" , "}, want: ""},
		{name: "XFF garbage hop: refused", trusted: proxies, header: "X-Forwarded-For", peer: "10.0.0.1:5000",
			values: []string{"198.51.100.1, bogus"}, want: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httpproxy.NewClientIPResolver(c.trusted, c.header)
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = c.peer
			h := c.header
			if h == "" {
				h = httpproxy.DefaultClientIPHeader
			}
			for _, v := range c.values {
				req.Header.Add(h, v)
			}
			got, err := r.Resolve(req)
			if c.want == "" {
				if sentinel.ErrorCode(err) != sentinel.EINVALID {
					t.Fatalf("got %v, %v; want EINVALID", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != netip.MustParseAddr(c.want) {
				t.Errorf("got %v, want %s", got, c.want)
			}
		})
	}
}
