package sentinel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MinSecretLen is the shortest HMAC secret accepted, in bytes.
const MinSecretLen = 32

// Token is a normalised API key (see NormalizeToken). It is plaintext, so
// every method that could carry it to a log, an error or a response (String,
// GoString, LogValue, MarshalText) prints the masked form instead; only an
// explicit string conversion reveals it.
type Token string

// NormalizeToken turns a raw credential into the key New API looks up: it
// trims white space, strips one leading "sk-" (in any case) and drops the
// optional channel suffix after the first "-". An empty result means the
// value carries no key. Case is kept here and folded when hashing, so the
// masked hint still shows the key as the user wrote it.
func NormalizeToken(raw string) Token {
	s := strings.TrimSpace(raw)
	if len(s) >= 3 && strings.EqualFold(s[:3], "sk-") {
		s = s[3:]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		s = s[:i]
	}
	return Token(strings.TrimSpace(s))
}

// Valid reports whether t consists of printable ASCII only, as every
// gateway key does. Anything else must be refused, not hashed: MySQL, which
// New API may run on, compares keys under collations that equate accented,
// full-width and invisible characters with plain letters, so a look-alike
// of a bound key would hash as a new key here and still find the bound
// key's account there.
func (t Token) Valid() bool {
	for i := 0; i < len(t); i++ {
		if t[i] < 0x21 || t[i] > 0x7e {
			return false
		}
	}
	return t != ""
}

// SameKey reports whether t and u name the same key (case folded).
func (t Token) SameKey(u Token) bool { return strings.EqualFold(string(t), string(u)) }

// Mask returns a hint that identifies the key to a person without revealing
// it: "abcd…wxyz" for keys of 16 characters or more, less for shorter ones,
// after "sk-" only when t has the shape of a New API model key (48
// characters of [0-9A-Za-z], which New API itself always shows as "sk-…"),
// so a credential that never was a model key (a JWT, say) does not read
// like one. Hint, given the raw value, shows "sk-" exactly when the client
// wrote it. Characters that are not printable (a client may send anything)
// show as '?', so a hint is always safe to store and display.
func (t Token) Mask() string {
	if t.modelShaped() {
		return "sk-" + t.maskBody()
	}
	return t.maskBody()
}

// MaskAs returns the masked form of t (see Mask) with "sk-" in front
// exactly when sk says the client wrote it so: the hint of a binding or
// intercept made from a request (Request.WroteSK).
func (t Token) MaskAs(sk bool) string {
	if sk {
		return "sk-" + t.maskBody()
	}
	return t.maskBody()
}

// Hint returns the masked form of the key in the raw credential raw (see
// Mask), with "sk-" in front exactly when raw had it, in any case. It never
// reveals more of the key than Mask does.
func Hint(raw string) string {
	s := strings.TrimSpace(raw)
	t := NormalizeToken(s)
	if len(s) >= 3 && strings.EqualFold(s[:3], "sk-") {
		return "sk-" + t.maskBody()
	}
	return t.maskBody()
}

func (t Token) maskBody() string {
	n := utf8.RuneCountInString(string(t))
	switch {
	case n >= 16:
		return printable(firstRunes(string(t), 4)) + "…" + printable(lastRunes(string(t), 4))
	case n >= 8:
		return printable(firstRunes(string(t), 2)) + "…"
	default:
		return "…"
	}
}

func (t Token) modelShaped() bool {
	if len(t) != 48 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

// String returns the masked form.
func (t Token) String() string { return t.Mask() }

// GoString returns the masked form, so %#v does not leak the key either.
func (t Token) GoString() string { return `sentinel.Token("` + t.Mask() + `")` }

// LogValue returns the masked form for log/slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.Mask()) }

// MarshalText returns the masked form, so encoders never emit the key.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.Mask()), nil }

func firstRunes(s string, k int) string {
	i := 0
	for ; k > 0 && i < len(s); k-- {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

func lastRunes(s string, k int) string {
	i := len(s)
	for ; k > 0 && i > 0; k-- {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return s[i:]
}

// KeyHash identifies a key: HMAC-SHA256 of its case-folded normalised token
// under the deployment's secret. Only hashes are stored.
type KeyHash [sha256.Size]byte

// String returns the hash in lower-case hex.
func (k KeyHash) String() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is the zero hash (no key).
func (k KeyHash) IsZero() bool { return k == KeyHash{} }

// MarshalText encodes the hash as hex.
func (k KeyHash) MarshalText() ([]byte, error) {
	b := make([]byte, hex.EncodedLen(len(k)))
	hex.Encode(b, k[:])
	return b, nil
}

// UnmarshalText decodes a hex hash; see ParseKeyHash.
func (k *KeyHash) UnmarshalText(b []byte) error {
	h, err := ParseKeyHash(string(b))
	if err != nil {
		return err
	}
	*k = h
	return nil
}

// ParseKeyHash parses 64 hex digits. It returns EINVALID otherwise.
func ParseKeyHash(s string) (KeyHash, error) {
	var k KeyHash
	if len(s) != hex.EncodedLen(len(k)) {
		return k, Errorf(EINVALID, "key hash must be %d hex digits, got %d characters", hex.EncodedLen(len(k)), len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return KeyHash{}, Errorf(EINVALID, "key hash is not hexadecimal")
	}
	return k, nil
}

// Hasher computes KeyHashes. It is safe for concurrent use and allocation
// free: HMAC states are pooled and reset from their precomputed pads.
type Hasher struct {
	pool sync.Pool
}

type hmacState struct {
	mac    hash.Hash
	folded []byte
	sum    [sha256.Size]byte
}

// NewHasher returns a Hasher keyed by secret, which must be at least
// MinSecretLen bytes long (EINVALID otherwise).
func NewHasher(secret []byte) (*Hasher, error) {
	if len(secret) < MinSecretLen {
		return nil, Errorf(EINVALID, "HMAC secret must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	key := append([]byte(nil), secret...)
	h := &Hasher{}
	h.pool.New = func() any {
		return &hmacState{mac: hmac.New(sha256.New, key), folded: make([]byte, 0, 64)}
	}
	return h, nil
}

// Hash returns the KeyHash of t, folding case first so that keys differing
// only in case (as MySQL-backed New API compares them) hash alike.
func (h *Hasher) Hash(t Token) KeyHash {
	st := h.pool.Get().(*hmacState)
	st.folded = appendFolded(st.folded[:0], string(t))
	st.mac.Reset()
	st.mac.Write(st.folded)
	var k KeyHash
	copy(k[:], st.mac.Sum(st.sum[:0])) // summing into k directly would make it escape
	if cap(st.folded) > 1024 {
		st.folded = make([]byte, 0, 64) // do not pin a huge buffer in the pool
	}
	h.pool.Put(st)
	return k
}

func appendFolded(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += size
	}
	return dst
}
