package sentinel

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// sealedPrefix marks a stored value sealed by a SealedSettingsStore.
const sealedPrefix = "sealed:v1:"

// SealedSettingsStore wraps a SettingsStore so that the secret fields of
// the live settings — the webhook URL, which carries the receiver's token
// — are stored encrypted (AES-256-GCM under a key derived from the
// deployment's HMAC secret), never in plaintext. Every process that reads
// the settings shares that secret already. A value stored in plaintext by
// an earlier version is read as it is and sealed on the next save.
type SealedSettingsStore struct {
	inner SettingsStore
	aead  cipher.AEAD
}

var _ SettingsStore = (*SealedSettingsStore)(nil)

// SealSettings returns inner with its secret fields sealed under a key
// derived from secret (at least MinSecretLen bytes; EINVALID otherwise).
func SealSettings(inner SettingsStore, secret []byte) (*SealedSettingsStore, error) {
	if len(secret) < MinSecretLen {
		return nil, Errorf(EINVALID, "settings sealing secret must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("key-ip-sentinel/settings/v1")) // a key of its own, not the key-hashing one
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, WrapError(EINTERNAL, err, "settings sealing key")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, WrapError(EINTERNAL, err, "settings sealing key")
	}
	return &SealedSettingsStore{inner: inner, aead: aead}, nil
}

// StoredSettings implements SettingsStore, opening sealed fields. EINTERNAL
// when a sealed value does not open (the HMAC secret changed).
func (s *SealedSettingsStore) StoredSettings(ctx context.Context) (SettingsPatch, int64, error) {
	p, v, err := s.inner.StoredSettings(ctx)
	if err != nil || p.AlertWebhookURL == nil {
		return p, v, err
	}
	u, err := s.open(*p.AlertWebhookURL)
	if err != nil {
		return SettingsPatch{}, 0, err
	}
	p.AlertWebhookURL = &u
	return p, v, nil
}

// SettingsVersion implements SettingsStore.
func (s *SealedSettingsStore) SettingsVersion(ctx context.Context) (int64, error) {
	return s.inner.SettingsVersion(ctx)
}

// SaveSettings implements SettingsStore, sealing the secret fields of p.
func (s *SealedSettingsStore) SaveSettings(ctx context.Context, p SettingsPatch, audit *AuditEntry) (int64, error) {
	if p.AlertWebhookURL != nil && *p.AlertWebhookURL != "" {
		sealed, err := s.seal(*p.AlertWebhookURL)
		if err != nil {
			return 0, err
		}
		p.AlertWebhookURL = &sealed
	}
	return s.inner.SaveSettings(ctx, p, audit)
}

func (s *SealedSettingsStore) seal(plain string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", WrapError(EINTERNAL, err, "seal a setting")
	}
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), nil)), nil
}

func (s *SealedSettingsStore) open(stored string) (string, error) {
	enc, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil // plaintext from before sealing, or empty
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	n := s.aead.NonceSize()
	if err == nil && len(raw) >= n {
		var plain []byte
		if plain, err = s.aead.Open(nil, raw[:n], raw[n:], nil); err == nil {
			return string(plain), nil
		}
	}
	return "", Errorf(EINTERNAL, "the stored webhook URL cannot be opened with this SENTINEL_HMAC_SECRET (was the secret changed?); set it again")
}
