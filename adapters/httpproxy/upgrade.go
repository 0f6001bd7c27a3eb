package httpproxy

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httputil"
	"strings"
)

// Only real WebSocket upgrades are tunnelled. Once a connection is
// upgraded, Sentinel relays bytes and sees no more requests, so a
// downstream that answered 101 without switching protocols (a misbehaving
// gateway, or anything an attacker can make answer 101) would carry HTTP
// requests past every check. Hence:
//   - the only upgrade forwarded is "Upgrade: websocket" on a GET carrying a
//     well-formed Sec-WebSocket-Key; h2c, TLS and every other token (and
//     "websocket" listed beside another) are stripped with Connection's
//     upgrade and HTTP2-Settings, so the downstream answers the request as
//     plain HTTP;
//   - a 101 is relayed only when its Sec-WebSocket-Accept is the one RFC
//     6455 derives from the request's Sec-WebSocket-Key: a server that
//     really speaks WebSocket computes it, a fake 101 does not. Otherwise
//     the client gets a 502 and not one byte of the downstream's.
//
// An upgrade carrying no key passes the Middleware like any keyless request
// (New API answers it 401 itself); a real WebSocket server then speaks
// frames, not HTTP, so nothing inside the socket is a request to decide on.

// ErrUpgradeRefused is returned (to the Proxy's error answer) when
// the downstream answered 101 to a request that was not a WebSocket
// upgrade, or with a Sec-WebSocket-Accept that does not match.
var ErrUpgradeRefused = errors.New("httpproxy: the downstream switched protocols without a valid WebSocket handshake")

// CodeBadUpgrade is the error code of the 502 answered then.
const CodeBadUpgrade = "downstream_bad_upgrade"

const webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// restrictUpgrade removes every upgrade from the outbound request unless it
// is a well-formed WebSocket upgrade. forward has already put back
// "Connection: Upgrade" and the client's Upgrade value on pr.Out.
func restrictUpgrade(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	delete(h, "Http2-Settings")
	up := h["Upgrade"] // (the keys are canonical: h.Values would canonicalize them again)
	if len(up) == 0 {
		return
	}
	// A handshake has no body: one would be read by the body's writer and
	// the tunnel at once after the switch.
	bodiless := pr.In.ContentLength == 0 && len(pr.In.TransferEncoding) == 0
	if len(up) == 1 && strings.EqualFold(strings.TrimSpace(up[0]), "websocket") && bodiless &&
		pr.Out.Method == http.MethodGet && validWebSocketKey(h["Sec-Websocket-Key"]) {
		return
	}
	delete(h, "Upgrade")
	delete(h, "Connection")
}

// validWebSocketKey reports whether vs is exactly one base64 value of 16
// bytes, as RFC 6455 requires.
func validWebSocketKey(vs []string) bool {
	if len(vs) != 1 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(vs[0]))
	return err == nil && len(b) == 16
}

// verifyUpgrade is forward's check of a 101: a 101 is let through
// only as the answer to a WebSocket upgrade, with the Sec-WebSocket-Accept
// derived from the request's key. forward checks it before
// it hijacks the client connection, so an error here means no byte is
// relayed.
func verifyUpgrade(res *http.Response) error {
	if res.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	req := res.Request
	if req == nil || !strings.EqualFold(strings.TrimSpace(req.Header.Get("Upgrade")), "websocket") {
		return ErrUpgradeRefused
	}
	// As ReverseProxy did: the answer must name the upgrade in
	// Connection too, and switch to what was asked.
	if !strings.EqualFold(strings.TrimSpace(upgradeType(res.Header)), "websocket") {
		return ErrUpgradeRefused
	}
	key := strings.TrimSpace(req.Header.Get("Sec-Websocket-Key"))
	accept := res.Header.Values("Sec-Websocket-Accept")
	if key == "" || len(accept) != 1 || strings.TrimSpace(accept[0]) != webSocketAccept(key) {
		return ErrUpgradeRefused
	}
	return nil
}

func webSocketAccept(key string) string {
	h := sha1.Sum([]byte(key + webSocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// writeBadUpgrade answers a refused 101.
func writeBadUpgrade(w http.ResponseWriter) {
	writeError(w, http.StatusBadGateway, CodeBadUpgrade,
		"The API gateway behind Sentinel switched protocols without a valid WebSocket handshake; the connection was not relayed.")
}
