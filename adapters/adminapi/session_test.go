package adminapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyipsentinel/sentinel/adapters/adminapi"
	"github.com/keyipsentinel/sentinel/adapters/memory"
)

// TestPasswordChangeEndsSessions: a session opened with one admin
// password is refused once the password is another, even though the
// token's signature, issuer, audience and expiry are still good.
func TestPasswordChangeEndsSessions(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	serve := func(password string) *httptest.Server {
		s, err := adminapi.New(adminapi.Options{Password: password, JWTSecret: secret, Logins: memory.NewWindowCounter(nil)})
		require.NoError(t, err)
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	before, after := serve("first-password"), serve("second-password")
	resp, err := http.Post(before.URL+"/admin/api/login", "application/json", strings.NewReader(`{"password":"first-password"}`))
	require.NoError(t, err)
	var login struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&login))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	session := func(srv *httptest.Server) int {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/admin/api/session", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+login.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, session(before))
	require.Equal(t, http.StatusUnauthorized, session(after), "the password changed: the session is over")
}
