package valkey

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"

	sentinel "github.com/keyipsentinel/sentinel"
)

// addRefusalScript counts one refusal in a window's hash: n is the count,
// f/l the first and last refusal (Unix microseconds), ni the number of
// distinct addresses tracked and i:<addr> each address's count. The first
// refusal sets the hash's expiry. Addresses past the bound are counted in
// n only, so a flood from many addresses cannot grow the hash.
var addRefusalScript = valkey.NewLuaScript(`
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local at = tonumber(ARGV[3])
local f = tonumber(redis.call('HGET', KEYS[1], 'f'))
if not f or at < f then redis.call('HSET', KEYS[1], 'f', ARGV[3]) end
local l = tonumber(redis.call('HGET', KEYS[1], 'l'))
if not l or at > l then redis.call('HSET', KEYS[1], 'l', ARGV[3]) end
if ARGV[2] ~= '' then
  local ik = 'i:' .. ARGV[2]
  if redis.call('HEXISTS', KEYS[1], ik) == 1 then
    redis.call('HINCRBY', KEYS[1], ik, 1)
  elseif tonumber(redis.call('HGET', KEYS[1], 'ni') or '0') < tonumber(ARGV[4]) then
    redis.call('HINCRBY', KEYS[1], ik, 1)
    redis.call('HINCRBY', KEYS[1], 'ni', 1)
  end
end
return n
`)

// AlertCounter is the sentinel.AlertCounter shared through Valkey: one
// hash per key and window for the tally and one SET NX key for the
// "alerted" mark, so that of several proxies exactly one sends the alert.
type AlertCounter struct {
	c *Client
}

var _ sentinel.AlertCounter = (*AlertCounter)(nil)

// NewAlertCounter returns an alert counter on c.
func NewAlertCounter(c *Client) *AlertCounter { return &AlertCounter{c: c} }

// Both keys name the window by its start, so expiry only collects
// garbage: it is set to outlive the window comfortably.
func (a *AlertCounter) keys(w sentinel.AlertWindow, key sentinel.KeyHash) (tally, mark string, ttl time.Duration) {
	// The hash tag keeps a key's two entries in one cluster slot.
	base := "{" + key.String() + "}:" + strconv.FormatInt(w.Start.UnixMilli(), 10)
	return a.c.opts.Prefix + "a:" + base, a.c.opts.Prefix + "am:" + base, 2*w.End.Sub(w.Start) + time.Minute
}

// AddRefusal implements sentinel.AlertCounter.
func (a *AlertCounter) AddRefusal(ctx context.Context, w sentinel.AlertWindow, key sentinel.KeyHash, ip netip.Addr, at time.Time) (int64, error) {
	vc, ok := a.c.get()
	if !ok {
		return 0, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	tally, _, ttl := a.keys(w, key)
	addr := ""
	if ip.IsValid() {
		addr = ip.String()
	}
	n, err := addRefusalScript.Exec(ctx, vc, []string{tally}, []string{
		strconv.FormatInt(ttl.Milliseconds(), 10), addr,
		strconv.FormatInt(at.UnixMicro(), 10), strconv.Itoa(sentinel.MaxAlertIPs),
	}).AsInt64()
	a.c.failed(ctx, err)
	return n, translate(err, "count refusal")
}

// Refusals implements sentinel.AlertCounter.
func (a *AlertCounter) Refusals(ctx context.Context, w sentinel.AlertWindow, key sentinel.KeyHash) (sentinel.RefusalTally, error) {
	vc, ok := a.c.get()
	if !ok {
		return sentinel.RefusalTally{}, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	tally, _, _ := a.keys(w, key)
	m, err := vc.Do(ctx, vc.B().Hgetall().Key(tally).Build()).AsStrMap()
	a.c.failed(ctx, err)
	if err != nil {
		return sentinel.RefusalTally{}, translate(err, "read refusals")
	}
	var out sentinel.RefusalTally
	for k, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch {
		case k == "n":
			out.Count = n
		case k == "f":
			out.First = time.UnixMicro(n).UTC()
		case k == "l":
			out.Last = time.UnixMicro(n).UTC()
		case strings.HasPrefix(k, "i:"):
			if ip, err := netip.ParseAddr(k[2:]); err == nil {
				out.IPs = append(out.IPs, sentinel.IPCount{IP: ip, Count: n})
			}
		}
	}
	sentinel.SortIPCounts(out.IPs)
	return out, nil
}

// MarkAlerted implements sentinel.AlertCounter with SET NX PX.
func (a *AlertCounter) MarkAlerted(ctx context.Context, w sentinel.AlertWindow, key sentinel.KeyHash) (bool, error) {
	vc, ok := a.c.get()
	if !ok {
		return false, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	_, mark, ttl := a.keys(w, key)
	err := vc.Do(ctx, vc.B().Set().Key(mark).Value("1").Nx().Px(ttl).Build()).Error()
	if valkey.IsValkeyNil(err) {
		return false, nil // NX refused: the mark was already set
	}
	a.c.failed(ctx, err)
	if err != nil {
		return false, translate(err, "mark alerted")
	}
	return true, nil
}
