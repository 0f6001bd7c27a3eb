package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	sentinel "github.com/keyipsentinel/sentinel"
)

// minAdminPasswordLen is the shortest ADMIN_PASSWORD accepted.
const minAdminPasswordLen = 8

// The files generated secrets are kept in, inside the data directory.
const (
	HMACSecretFile     = "hmac.secret"
	AdminPasswordFile  = "admin.password"
	AdminJWTSecretFile = "admin-jwt.secret"
)

// Needs says which secrets a command uses, so EnsureSecrets generates (or
// requires) only those: `migrate` needs none and writes nothing.
type Needs struct {
	HMAC  bool // hashes keys: the proxy, and the admin API's key lookup
	Admin bool // serves the admin API: its password and session-signing secret
}

// EnsureSecrets fills the secrets cfg lacks and needs says the command
// uses. With PG_DSN each must be configured (every process sharing the
// database must agree); in the embedded default each is read from, or
// generated once into, the data directory (mode 0600; processes starting
// together agree on one). A generated admin password is written to out on
// the start that created it, and never again.
func EnsureSecrets(cfg *Config, needs Needs, out io.Writer) error {
	type want struct {
		key    Key
		file   string
		minLen int
		gen    func() (string, error)
		set    func(value, source string, created bool)
		why    string
	}
	var wants []want
	if needs.HMAC && cfg.HMACSecret == nil {
		wants = append(wants, want{HMACSecret, HMACSecretFile, sentinel.MinSecretLen, randomHex,
			func(v, src string, _ bool) { cfg.HMACSecret, cfg.SecretSource = []byte(v), src },
			"every proxy sharing the database must hash keys with the same secret"})
	}
	if needs.Admin && cfg.AdminPassword == "" {
		wants = append(wants, want{AdminPassword, AdminPasswordFile, minAdminPasswordLen, randomPassword,
			func(v, _ string, created bool) { cfg.AdminPassword, cfg.AdminPasswordGenerated = v, created },
			"admin processes sharing the database must accept the same password"})
	}
	if needs.Admin && cfg.AdminJWTSecret == "" {
		wants = append(wants, want{AdminJWTSecret, AdminJWTSecretFile, sentinel.MinSecretLen, randomHex,
			func(v, _ string, _ bool) { cfg.AdminJWTSecret = v },
			"admin processes sharing the database must sign sessions with the same secret"})
	}
	var problems []string
	for _, w := range wants {
		if cfg.PGDSN != "" {
			problems = append(problems, fmt.Sprintf("%s: is required with %s: %s", w.key, PGDSN, w.why))
			continue
		}
		path := filepath.Join(cfg.DataDir, w.file)
		v, created, err := loadOrCreateSecret(path, w.minLen, w.gen)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: is unset and the generated one at %s cannot be used: %v", w.key, path, err))
			continue
		}
		w.set(v, path, created)
		if w.key == AdminPassword && created {
			fmt.Fprintf(out, "Generated the admin password (shown only this once; kept in %s, mode 0600; set %s to choose your own):\n\n    %s\n\n",
				path, AdminPassword, v)
		}
	}
	return joinProblems(problems)
}

func randomHex() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw), nil
}

// randomPassword is 144 random bits in 24 characters an operator can copy.
func randomPassword() (string, error) {
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// loadOrCreateSecret reads the secret at path, or creates it with gen
// (mode 0600) and reports that it did. Processes starting together agree:
// the file appears atomically (a hard link of a complete file, which fails
// if the name exists) and the loser of the race reads the winner's.
func loadOrCreateSecret(path string, minLen int, gen func() (string, error)) (string, bool, error) {
	if b, err := readSecretFile(path, minLen); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, err
	}
	secret, err := gen()
	if err != nil {
		return "", false, err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, err
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Close(); err != nil {
		return "", false, err
	}
	created := true
	if err := os.Link(tmp.Name(), path); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return "", false, err
		}
		created = false
	}
	b, err := readSecretFile(path, minLen)
	return b, created && err == nil, err
}

func readSecretFile(path string, minLen int) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("it is readable by others and cannot be restricted: %w", err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	b = bytes.TrimSpace(b)
	if len(b) < minLen {
		return "", fmt.Errorf("it holds %d bytes, fewer than %d", len(b), minLen)
	}
	return string(b), nil
}
