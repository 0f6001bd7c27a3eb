package sentinel_test

import (
	"strings"
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
)

// TestHintShowsSkOnlyWhenTheClientWroteIt: a credential that never had an
// "sk-" prefix (a dashboard JWT, a short test key) must not be shown as
// "sk-…" in intercept and binding hints (issue 8, item 12).
func TestHintShowsSkOnlyWhenTheClientWroteIt(t *testing.T) {
	const key48 = "AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789"
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJuZXctYXBpIn0.c2ln"
	cases := []struct {
		name, raw, mask string
	}{
		{"model key with sk-", "sk-" + key48, "sk-AbCd…6789"},
		{"model key without sk-", key48, "sk-AbCd…6789"},
		{"jwt", jwt, "eyJh…c2ln"},
		{"short key", "abcdefghij", "ab…"},
		{"tiny key", "abc", "…"},
		{"runes", "ключключключключ", "ключ…ключ"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := sentinel.NormalizeToken(c.raw).Mask()
			if got != c.mask {
				t.Fatalf("Mask of %s = %q, want %q", c.name, got, c.mask)
			}
		})
	}
	hints := []struct {
		raw, hint string
	}{
		{"sk-" + key48, "sk-AbCd…6789"},
		{"SK-" + key48 + "-3", "sk-AbCd…6789"},
		{key48, "AbCd…6789"},
		{jwt, "eyJh…c2ln"},
		{"sk-abcdefghij", "sk-ab…"},
		{"  abc ", "…"},
	}
	for _, h := range hints {
		if got := sentinel.Hint(h.raw); got != h.hint {
			t.Errorf("Hint(%.12q) = %q, want %q", h.raw, got, h.hint)
		}
		if strings.Contains(sentinel.Hint(h.raw), string(sentinel.NormalizeToken(h.raw))) && len(sentinel.NormalizeToken(h.raw)) > 8 {
			t.Errorf("Hint(%.12q) reveals the key", h.raw)
		}
	}
}
