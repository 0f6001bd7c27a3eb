package httpproxy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/httpproxy"
	"github.com/keyipsentinel/sentinel/adapters/sqlite"
)

// TestOffPathBoundKeyIsStillRefused: an off-path value that is not bound
// is ignored (x-api-key: placeholder on /v1/chat/completions), while one
// that is a key Sentinel has bound makes the request ambiguous beside
// another key, or is the request's key when it is alone.
func TestOffPathBoundKeyIsStillRefused(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	store := sqlite.NewBindingStore(db)
	hasher, err := sentinel.NewHasher(testSecret)
	require.NoError(t, err)
	other := "ZyXw" + realKey[4:]
	a := mustAddr("127.0.0.1")
	_, created, err := store.CreateBinding(ctx, sentinel.Binding{
		Key: hasher.Hash(sentinel.Token(other)), Hint: "x", FirstIP: a, LastIP: a,
		Rule: sentinel.SingleRule(sentinel.Granularity{}.Prefix(a)), Status: sentinel.StatusActive,
	})
	require.NoError(t, err)
	require.True(t, created)

	cases := []struct {
		name    string
		header  []string
		wantKey string
		wantErr error
	}{
		{"unbound placeholder is ignored", []string{"Authorization", "Bearer sk-" + realKey, "x-api-key", "placeholder"}, realKey, nil},
		{"bound key beside another", []string{"Authorization", "Bearer sk-" + realKey, "x-api-key", "sk-" + other}, realKey, httpproxy.ErrMultipleKeys},
		{"bound key alone", []string{"x-api-key", "sk-" + other}, other, nil},
		{"unbound key alone", []string{"x-api-key", "sk-" + realKey}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
			for i := 0; i+1 < len(c.header); i += 2 {
				r.Header.Add(c.header[i], c.header[i+1])
			}
			creds, err := httpproxy.Extractor{}.Extract(r)
			require.NoError(t, err)
			got, err := creds.ResolveOffPath(ctx, hasher, httpproxy.BoundIn(store))
			require.ErrorIs(t, err, c.wantErr)
			if err == nil {
				require.Equal(t, c.wantKey != "", got.Found)
				require.Equal(t, sentinel.Token(c.wantKey), got.Token)
				require.Empty(t, got.OffPath)
			}
		})
	}
}
