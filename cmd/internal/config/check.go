package config

import (
	"strconv"
	"strings"
)

// Effective is one setting as the loaded configuration has it, safe to
// print: a secret's value is replaced by Masked.
type Effective struct {
	Name   string
	Value  string // "" when unset; for secrets, Masked
	Source string // flag, environment, file (config or .env), default
}

// Masked says of a secret only whether it is set, and how long it is:
// "••••" and the length, or "unset". The length helps spot a truncated
// paste; it says nothing usable about the secret.
func Masked(v string) string {
	if v == "" {
		return "unset"
	}
	return "•••• (" + strconv.Itoa(len(v)) + " bytes)"
}

// Effective returns every setting's effective value and where it came
// from, secrets masked and PG_DSN redacted even so. Call it after Load.
func (l *Loader) Effective() []Effective {
	out := make([]Effective, 0, numKeys)
	for _, k := range keys() {
		s := table[k]
		v, src := l.value(k), l.source(k)
		switch {
		case k == PGDSN && v != "":
			if n, err := NormalizeDSN(v); err == nil {
				v = n
			}
			v = "•••• " + RedactDSN(v) // the host helps; the password never shows
		case s.Secret:
			v = Masked(v)
		case k == RedisAddr && strings.Contains(v, "@"):
			v = "•••• (a URL with credentials)"
		}
		out = append(out, Effective{Name: s.Name, Value: v, Source: src})
	}
	return out
}

// source names where value(k) came from, in value's order.
func (l *Loader) source(k Key) string {
	s := table[k]
	if f := l.fs.Lookup(s.Flag); f != nil && f.Changed && f.Value.String() != "" {
		return "flag"
	}
	if l.env.lookup(s.Name) != "" {
		return "environment"
	}
	if l.files != nil && !s.Locator && fileValue(l.files.Get(strings.ToLower(s.Name))) != "" {
		return "file"
	}
	return "default"
}
