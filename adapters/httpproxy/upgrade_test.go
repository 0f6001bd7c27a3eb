package httpproxy_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeUpgrader is a raw TCP downstream that answers every request with 101
// (with the Sec-WebSocket-Accept given by accept, none when it returns "")
// without switching protocols, then reads what follows on the connection as
// more HTTP requests: the tunnel an attacker would use to reach the gateway
// past Sentinel.
type fakeUpgrader struct {
	ln     net.Listener
	accept func(key string) string
	mu     sync.Mutex
	first  []http.Header
	inside []string // "METHOD path authorization" of requests read after the 101
}

func newFakeUpgrader(t *testing.T, accept func(key string) string) *fakeUpgrader {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeUpgrader{ln: ln, accept: accept}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeUpgrader) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.first = append(f.first, req.Header.Clone())
	f.mu.Unlock()
	resp := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	if a := f.accept(req.Header.Get("Sec-WebSocket-Key")); a != "" {
		resp += "Sec-WebSocket-Accept: " + a + "\r\n"
	}
	if _, err := io.WriteString(c, resp+"\r\n"); err != nil {
		return
	}
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.inside = append(f.inside, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		f.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

func (f *fakeUpgrader) seen() (first []http.Header, inside []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]http.Header(nil), f.first...), append([]string(nil), f.inside...)
}

func acceptFor(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// rawUpgrade sends an upgrade request with extra header lines over a raw
// connection from 127.0.0.1, then, if the proxy answers 101, a second
// request inside what would be the tunnel. It returns the status of the
// first answer.
func rawUpgrade(t *testing.T, proxyURL string, headers string) int {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(proxyURL, "http://"))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(c, "GET /v1/realtime HTTP/1.1\r\nHost: sentinel\r\n"+
		"Authorization: Bearer sk-"+realKey+"\r\n"+headers+"\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Inside the "tunnel": a foreign key Sentinel would refuse.
		io.WriteString(c, "GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-ZyXw"+realKey[4:]+"\r\n\r\n")
		if r, err := http.ReadResponse(br, nil); err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
	}
	return resp.StatusCode
}

const wsRequestHeaders = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

// TestFakeUpgradeCannotBeTunnelled: a downstream answering 101 without
// really switching to WebSocket (no or a wrong Sec-WebSocket-Accept) gets
// the client a 502, and nothing the client sends afterwards reaches it.
func TestFakeUpgradeCannotBeTunnelled(t *testing.T) {
	cases := []struct {
		name   string
		accept func(string) string
	}{
		{"no accept", func(string) string { return "" }},
		{"wrong accept", func(string) string { return acceptFor("another key") }},
		{"accept of an empty key", func(string) string { return acceptFor("") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := newFakeUpgrader(t, c.accept)
			s := newStack(t, stackOptions{downstream: "http://" + fake.ln.Addr().String()})
			status := rawUpgrade(t, s.URL, wsRequestHeaders)
			require.Equal(t, http.StatusBadGateway, status)
			first, inside := fake.seen()
			require.Len(t, first, 1)
			require.Empty(t, inside, "nothing was tunnelled")
		})
	}
}

// TestRealUpgradeAnswerIsRelayed: the same fake with a correct
// Sec-WebSocket-Accept is relayed (the proxy cannot tell a real WebSocket
// server from it, and then the bytes are the downstream's business).
func TestRealUpgradeAnswerIsRelayed(t *testing.T) {
	fake := newFakeUpgrader(t, acceptFor)
	s := newStack(t, stackOptions{downstream: "http://" + fake.ln.Addr().String()})
	require.Equal(t, http.StatusSwitchingProtocols, rawUpgrade(t, s.URL, wsRequestHeaders))
}

// TestOnlyWebSocketUpgradesAreForwarded: h2c and every other upgrade token,
// and HTTP2-Settings, never reach the downstream; a 101 to such a request
// is a 502.
func TestOnlyWebSocketUpgradesAreForwarded(t *testing.T) {
	cases := []struct {
		name    string
		headers string
	}{
		{"h2c", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"h2c, settings not named in connection", "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"},
		{"websocket beside h2c", "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"},
		{"tls upgrade", "Connection: Upgrade\r\nUpgrade: TLS/1.2\r\n"},
		{"websocket without a key", "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := newFakeUpgrader(t, acceptFor)
			s := newStack(t, stackOptions{downstream: "http://" + fake.ln.Addr().String()})
			status := rawUpgrade(t, s.URL, c.headers)
			require.Equal(t, http.StatusBadGateway, status, "a 101 to a request that did not ask for WebSocket is not relayed")
			first, inside := fake.seen()
			require.Len(t, first, 1)
			require.Empty(t, first[0].Values("Upgrade"))
			require.Empty(t, first[0].Values("Http2-Settings"))
			require.NotContains(t, strings.ToLower(strings.Join(first[0].Values("Connection"), ",")), "upgrade")
			require.Empty(t, inside)
		})
	}
}

// TestUpgradeRelaysBytesSentWithTheRequest: bytes a client sent right
// behind its upgrade request, before the 101 (read ahead with the head),
// reach the downstream once the tunnel is open; they are not dropped.
func TestUpgradeRelaysBytesSentWithTheRequest(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		fake := newFakeUpgrader(t, acceptFor)
		base := e.proxyFor(t, "http://"+fake.ln.Addr().String(), nil)
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
		_, err = io.WriteString(c, "GET /v1/realtime HTTP/1.1\r\nHost: sentinel\r\nAuthorization: Bearer sk-"+realKey+"\r\n"+wsRequestHeaders+"\r\n"+
			"GET /inside HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		inner, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "the bytes behind the upgrade request reached the downstream, which answered them")
		body, _ := io.ReadAll(inner.Body)
		require.Equal(t, "ok", string(body))
		_, inside := fake.seen()
		require.Equal(t, []string{"GET /inside "}, inside)
	})
}
