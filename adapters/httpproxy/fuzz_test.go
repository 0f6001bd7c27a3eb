package httpproxy_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
)

func FuzzExtractToken(f *testing.F) {
	k := "sk-" + realKey
	f.Add("Bearer "+k, "", "", "", "", "")
	f.Add("bearer "+k+"-7", "", "", "", "", "")
	f.Add("", k, "", "", "", "")
	f.Add("", "", realKey, "key="+k, "", "")
	f.Add("", "", "", "%6Bey=sk%2D"+realKey+"&alt=sse", "", "")
	f.Add("", "", "", "key=a;key=b&key=%zz", "", "")
	f.Add("", "", "", "", "realtime, openai-insecure-api-key."+k+", openai-beta.realtime-v1", "")
	f.Add("", "", "", "", k, "")
	f.Add("midjourney-proxy", "", "", "", "", k)
	f.Add("Bearer "+k, "other", "", "", "", "")
	f.Add("SK-"+strings.ToUpper(realKey)+"-7", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, auth, apiKey, goog, query, ws, mj string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		r.URL.RawQuery = query
		for name, v := range map[string]string{"Authorization": auth, "X-Api-Key": apiKey, "X-Goog-Api-Key": goog,
			"Sec-Websocket-Protocol": ws, "Mj-Api-Secret": mj} {
			if v != "" {
				r.Header[name] = []string{v}
			}
		}
		tok, found, err := httpproxy.ExtractToken(r)
		if err != nil && !found {
			t.Fatalf("an error without a key: %v", err)
		}
		if found {
			s := string(tok)
			if s == "" || strings.Contains(s, "-") || strings.TrimSpace(s) != s {
				t.Fatalf("token %q is not normalised", s)
			}
		}
		tok2, found2, err2 := httpproxy.ExtractToken(r)
		if tok != tok2 || found != found2 || (err == nil) != (err2 == nil) {
			t.Fatal("extraction is not deterministic")
		}
	})
}

func FuzzClientIP(f *testing.F) {
	f.Add("127.0.0.1:1234", "", false)
	f.Add("10.0.0.1:1234", "198.51.100.7", false)
	f.Add("10.0.0.1:1234", "::ffff:198.51.100.7", false)
	f.Add("10.0.0.1:1234", "[2001:db8::1]:443", false)
	f.Add("10.0.0.1:1234", "1.1.1.1, 198.51.100.7, 10.0.0.2", true)
	f.Add("[fe80::1%eth0]:80", "", false)
	f.Add("10.0.0.1:1234", "garbage", true)
	f.Add("@", "", false)
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, header string, xff bool) {
		name := "X-Real-IP"
		if xff {
			name = "X-Forwarded-For"
		}
		c := httpproxy.NewClientIPResolver(trusted, name)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		if header != "" {
			r.Header.Set(name, header)
		}
		a, err := c.Resolve(r)
		if err != nil {
			return
		}
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("resolved %v is not normalised", a)
		}
		if peer, perr := netip.ParseAddrPort(remote); perr == nil && !trusted[0].Contains(peer.Addr().Unmap()) {
			if a != peer.Addr().Unmap().WithZone("") {
				t.Fatalf("an untrusted peer %v was taken for %v", peer, a)
			}
		}
	})
}
