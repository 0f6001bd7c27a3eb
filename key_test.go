package sentinel_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	sentinel "github.com/keyipsentinel/sentinel"
)

const key48 = "AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789"

func TestNormalizeToken(t *testing.T) {
	cases := []struct{ raw, want string }{
		{"sk-" + key48, key48},
		{"  sk-" + key48 + "  ", key48},
		{"sk-" + key48 + "-12", key48},
		{key48 + "-12", key48},
		{"SK-" + key48, key48},
		{"sk-sk-" + key48, "sk"}, // one sk- only, then the channel cut, as New API does
		{"sk-", ""},
		{"-abc", ""},
		{"", ""},
		{"   ", ""},
		{"midjourney-proxy", "midjourney"},
	}
	for _, c := range cases {
		checkEqual(t, sentinel.Token(c.want), sentinel.NormalizeToken(c.raw), "raw %q", c.raw)
	}
}

func TestTokenValid(t *testing.T) {
	for tok, want := range map[string]bool{
		key48: true, "abc-_.~!": true, "": false, "a b": false, "a\tb": false, "ключ": false,
		"Á" + key48: false, "ａbc": false, key48 + "\u200b": false, "x\x7f": false, "x\x00": false,
	} {
		checkEqual(t, want, sentinel.Token(tok).Valid(), "%q", tok)
	}
}

func TestTokenNeverPrintsItself(t *testing.T) {
	tok := sentinel.NormalizeToken("sk-" + key48)
	mustEqual(t, "sk-AbCd…6789", tok.Mask())
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s %q %#v %+v", tok, tok, tok, tok, tok), buf.String()} {
		checkNotContains(t, s, key48[4:44], "printed: %s", s)
	}
	b, err := tok.MarshalText()
	mustNoError(t, err)
	checkEqual(t, "sk-AbCd…6789", string(b))

	checkEqual(t, "ab…", sentinel.Token("abcdefghij").Mask())
	checkEqual(t, "…", sentinel.Token("abc").Mask())
	checkEqual(t, "ключ…ключ", sentinel.Token("ключключключключ").Mask(), "masks runes, not bytes")
}

func TestHasher(t *testing.T) {
	_, err := sentinel.NewHasher([]byte("short"))
	mustEqual(t, sentinel.EINVALID, sentinel.ErrorCode(err))

	h, err := sentinel.NewHasher([]byte(strings.Repeat("s", 32)))
	mustNoError(t, err)
	h2, err := sentinel.NewHasher([]byte(strings.Repeat("t", 32)))
	mustNoError(t, err)

	a := h.Hash(sentinel.Token(key48))
	checkEqual(t, a, h.Hash(sentinel.Token(strings.ToUpper(key48))), "case is folded")
	checkEqual(t, a, h.Hash(sentinel.Token(strings.ToLower(key48))))
	checkNotEqual(t, a, h.Hash(sentinel.Token(key48[:47])))
	checkNotEqual(t, a, h2.Hash(sentinel.Token(key48)), "the secret matters")
	checkEqual(t, h.Hash("ÄBC"), h.Hash("äbc"), "non-ASCII case is folded too")

	parsed, err := sentinel.ParseKeyHash(a.String())
	mustNoError(t, err)
	checkEqual(t, a, parsed)
	_, err = sentinel.ParseKeyHash("xyz")
	checkEqual(t, sentinel.EINVALID, sentinel.ErrorCode(err))
	_, err = sentinel.ParseKeyHash(strings.Repeat("g", 64))
	checkEqual(t, sentinel.EINVALID, sentinel.ErrorCode(err))
}

func TestHasherIsSafeForConcurrentUse(t *testing.T) {
	h, err := sentinel.NewHasher([]byte(strings.Repeat("s", 32)))
	mustNoError(t, err)
	want := h.Hash(key48)
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && h.Hash(key48) == want
			}
			done <- ok
		}()
	}
	for range 8 {
		mustTrue(t, <-done)
	}
}

func BenchmarkHash(b *testing.B) {
	h, err := sentinel.NewHasher([]byte(strings.Repeat("s", 32)))
	mustNoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		h.Hash(key48)
	}
}
