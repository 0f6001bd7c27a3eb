package httpproxy

import (
	"net/http"
	"net/netip"
	"strings"

	sentinel "github.com/keyipsentinel/sentinel"
)

// DefaultClientIPHeader is the header trusted proxies name the client in.
const DefaultClientIPHeader = "X-Real-IP"

// ClientIPResolver decides which address a request comes from: the socket peer,
// unless the peer is a trusted proxy, in which case the proxy's header says.
// The zero value trusts no proxy.
type ClientIPResolver struct {
	trusted []netip.Prefix
	header  string // canonical form
	xff     bool   // header is X-Forwarded-For: walk it right to left
}

// NewClientIPResolver returns a resolver trusting the proxies in trusted to name the
// client in header (DefaultClientIPHeader when empty). With header
// X-Forwarded-For the list is walked from the right and the first address
// that is not a trusted proxy wins; the left-most entry, which the client
// writes itself, is never believed unless every hop is trusted.
func NewClientIPResolver(trusted []netip.Prefix, header string) *ClientIPResolver {
	if header == "" {
		header = DefaultClientIPHeader
	}
	header = http.CanonicalHeaderKey(strings.TrimSpace(header))
	ps := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		ps[i] = sentinel.NormalizePrefix(p)
	}
	return &ClientIPResolver{trusted: ps, header: header, xff: header == "X-Forwarded-For"}
}

// Header returns the canonical name of the header trusted proxies use.
func (c *ClientIPResolver) Header() string {
	if c == nil || c.header == "" {
		return http.CanonicalHeaderKey(DefaultClientIPHeader)
	}
	return c.header
}

func (c *ClientIPResolver) isTrusted(a netip.Addr) bool {
	return c != nil && sentinel.ContainsAddr(c.trusted, a)
}

// Resolve returns the normalised client address of r. It fails when the
// peer address cannot be parsed, or when a trusted proxy sent a value that
// is not an address: that is a refusal, never a fallback to the peer.
func (c *ClientIPResolver) Resolve(r *http.Request) (netip.Addr, error) {
	return c.resolve(r)
}

// FromTrustedProxy reports whether r's socket peer is a trusted proxy, whose
// X-Forwarded-Proto and X-Forwarded-Host are then believed.
func (c *ClientIPResolver) FromTrustedProxy(r *http.Request) bool {
	if c == nil || len(c.trusted) == 0 {
		return false // no proxy is trusted: no address to parse
	}
	peer, err := remotePeer(r)
	return err == nil && c.isTrusted(peer)
}

// remotePeer is r's RemoteAddr parsed: under the Server, once per
// connection (unless a handler changed RemoteAddr).
func remotePeer(r *http.Request) (netip.Addr, error) {
	if c := connOf(r.Context()); c != nil && c.peer.IsValid() && r.RemoteAddr == c.remote {
		return c.peer, nil
	}
	return parseHostAddr(r.RemoteAddr)
}

func (c *ClientIPResolver) resolve(r *http.Request) (netip.Addr, error) {
	peer, err := remotePeer(r)
	if err != nil {
		return netip.Addr{}, sentinel.Errorf(sentinel.EINVALID, "cannot read the peer address %q", clip(r.RemoteAddr))
	}
	if !c.isTrusted(peer) {
		return peer, nil
	}
	values := r.Header[c.header] // canonical (NewClientIPResolver)
	if len(values) == 0 {
		return peer, nil // e.g. the load balancer's own health check
	}
	if c.xff {
		return c.walkForwardedFor(values)
	}
	// Several lines: the last one was written by the proxy nearest to us.
	v := strings.TrimSpace(values[len(values)-1])
	a, err := parseHostAddr(v)
	if err != nil {
		return netip.Addr{}, sentinel.Errorf(sentinel.EINVALID, "the trusted proxy sent %s %q, which is not an IP address", c.header, clip(v))
	}
	return a, nil
}

func (c *ClientIPResolver) walkForwardedFor(values []string) (netip.Addr, error) {
	var last netip.Addr
	for i := len(values) - 1; i >= 0; i-- {
		line := values[i]
		for line != "" {
			var hop string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				hop, line = line[j+1:], line[:j]
			} else {
				hop, line = line, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			a, err := parseHostAddr(hop)
			if err != nil {
				return netip.Addr{}, sentinel.Errorf(sentinel.EINVALID, "the trusted proxy sent X-Forwarded-For entry %q, which is not an IP address", clip(hop))
			}
			if !c.isTrusted(a) {
				return a, nil
			}
			last = a
		}
	}
	if !last.IsValid() {
		return netip.Addr{}, sentinel.Errorf(sentinel.EINVALID, "the trusted proxy sent an empty X-Forwarded-For")
	}
	return last, nil // every hop is a trusted proxy: the furthest one is the client
}

// parseHostAddr parses "addr", "addr:port" or "[v6]:port" and normalises.
func parseHostAddr(s string) (netip.Addr, error) {
	// RemoteAddr is "ip:port", header values are bare addresses: try the
	// form s looks like first, since a failed parse allocates its error
	// (two allocations per request saved).
	if strings.Count(s, ":") == 1 || (len(s) > 0 && s[0] == '[' && s[len(s)-1] != ']') {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return sentinel.NormalizeAddr(ap.Addr()), nil
		}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return sentinel.NormalizeAddr(a), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' { // "[v6]" without a port
			if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
				return sentinel.NormalizeAddr(a), nil
			}
		}
		return netip.Addr{}, err
	}
	return sentinel.NormalizeAddr(ap.Addr()), nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
