package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

func (p *parser) dsn(k Key) string {
	s := p.str(k)
	if s == "" {
		return ""
	}
	norm, err := NormalizeDSN(s)
	if err != nil {
		p.fail(k, "%v", err)
	}
	return norm
}

// NormalizeDSN accepts postgres:// and postgresql:// URLs, the seed's
// SQLAlchemy forms (postgresql+asyncpg://, +psycopg, +psycopg2) and
// key=value DSNs, and returns a form pgx understands. Errors never quote
// the DSN, which may hold a password.
func NormalizeDSN(s string) (string, error) {
	if !strings.Contains(s, "://") {
		if !strings.Contains(s, "=") {
			return "", errors.New("must be a postgres:// URL or a key=value DSN")
		}
		return s, nil
	}
	scheme, rest, _ := strings.Cut(s, "://")
	base, driver, _ := strings.Cut(strings.ToLower(scheme), "+")
	if base != "postgres" && base != "postgresql" {
		return "", fmt.Errorf("must be a postgres:// or postgresql:// URL, got scheme %q", scheme)
	}
	switch driver {
	case "", "asyncpg", "psycopg", "psycopg2", "pg8000":
	default:
		return "", fmt.Errorf("unknown driver suffix %q in the scheme", "+"+driver)
	}
	u, err := url.Parse("postgres://" + rest)
	if err != nil || u.Host == "" {
		return "", errors.New("is not a valid postgres:// URL (host missing or malformed)")
	}
	return u.String(), nil
}

// RedactDSN returns the DSN without its password, for logs.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "(key=value DSN)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
