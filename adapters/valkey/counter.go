package valkey

import (
	"context"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"

	sentinel "github.com/keyipsentinel/sentinel"
)

// hitScript counts an event; the first one opens the window.
var hitScript = valkey.NewLuaScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// WindowCounter is the sentinel.WindowCounter shared through Valkey.
type WindowCounter struct {
	c *Client
}

var _ sentinel.WindowCounter = (*WindowCounter)(nil)

// NewWindowCounter returns a counter on c.
func NewWindowCounter(c *Client) *WindowCounter { return &WindowCounter{c: c} }

func (w *WindowCounter) key(name string) string { return w.c.opts.Prefix + "w:" + name }

// Hit implements sentinel.WindowCounter.
func (w *WindowCounter) Hit(ctx context.Context, name string, window time.Duration) (int64, error) {
	if window < time.Millisecond {
		return 0, sentinel.Errorf(sentinel.EINVALID, "counter window must be at least 1ms, got %v", window)
	}
	vc, ok := w.c.get()
	if !ok {
		return 0, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	n, err := hitScript.Exec(ctx, vc, []string{w.key(name)}, []string{strconv.FormatInt(window.Milliseconds(), 10)}).AsInt64()
	w.c.failed(ctx, err)
	return n, translate(err, "count")
}

// Count implements sentinel.WindowCounter.
func (w *WindowCounter) Count(ctx context.Context, name string) (int64, error) {
	vc, ok := w.c.get()
	if !ok {
		return 0, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	n, err := vc.Do(ctx, vc.B().Get().Key(w.key(name)).Build()).AsInt64()
	if valkey.IsValkeyNil(err) {
		return 0, nil
	}
	w.c.failed(ctx, err)
	return n, translate(err, "read counter")
}

// Clear implements sentinel.WindowCounter.
func (w *WindowCounter) Clear(ctx context.Context, name string) error {
	vc, ok := w.c.get()
	if !ok {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	err := vc.Do(ctx, vc.B().Del().Key(w.key(name)).Build()).Error()
	w.c.failed(ctx, err)
	return translate(err, "clear counter")
}

// DailyCounter is the sentinel.DailyCounter kept in Valkey: one hash per
// UTC day, kept for a retention period.
type DailyCounter struct {
	c      *Client
	retain time.Duration
}

var _ sentinel.DailyCounter = (*DailyCounter)(nil)

// NewDailyCounter returns daily counters on c kept for retainDays (default 35).
func NewDailyCounter(c *Client, retainDays int) *DailyCounter {
	if retainDays <= 0 {
		retainDays = 35
	}
	return &DailyCounter{c: c, retain: time.Duration(retainDays) * 24 * time.Hour}
}

func (d *DailyCounter) key(t time.Time) string {
	return d.c.opts.Prefix + "d:" + t.UTC().Format(time.DateOnly)
}

// AddDaily implements sentinel.DailyCounter.
func (d *DailyCounter) AddDaily(ctx context.Context, t time.Time, metric string, n int64) error {
	vc, ok := d.c.get()
	if !ok {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	k := d.key(t)
	for _, r := range vc.DoMulti(ctx,
		vc.B().Hincrby().Key(k).Field(metric).Increment(n).Build(),
		vc.B().Pexpire().Key(k).Milliseconds(d.retain.Milliseconds()).Build(),
	) {
		if err := r.Error(); err != nil {
			d.c.failed(ctx, err)
			return translate(err, "add to daily counter")
		}
	}
	return nil
}

// Daily implements sentinel.DailyCounter.
func (d *DailyCounter) Daily(ctx context.Context, t time.Time) (map[string]int64, error) {
	vc, ok := d.c.get()
	if !ok {
		return nil, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	m, err := vc.Do(ctx, vc.B().Hgetall().Key(d.key(t)).Build()).AsIntMap()
	d.c.failed(ctx, err)
	if err != nil {
		return nil, translate(err, "read daily counters")
	}
	return m, nil
}
