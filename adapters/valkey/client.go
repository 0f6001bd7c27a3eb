// Package valkey puts Valkey (or Redis) to work for a deployment of many
// proxies: a cache-aside BindingStore whose warm keys are answered from
// process memory by valkey-go's server-assisted client-side caching, with
// changes pushed to every proxy; windowed and daily counters; and settings
// change notifications. It speaks to a standalone server or a cluster.
//
// Valkey is never the authority. When it cannot be reached the cache steps
// aside and every decision goes to the wrapped store until Valkey answers
// again; nothing needs a restart.
package valkey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Options configure a Client.
type Options struct {
	// Addr is "host:port", a comma-separated list of cluster nodes, or a
	// redis:// / rediss:// / valkey:// URL (see valkey.ParseURL).
	Addr     string
	Password string
	// Prefix starts every key Sentinel writes, so deployments can share a
	// server. Default "sentinel:".
	Prefix string
	// Timeout bounds a round trip: connection writes, replies and the
	// probes that detect recovery. Default 1s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Client is a connection to Valkey that knows whether Valkey is usable.
// While it is not, callers fall back to the authority at once instead of
// waiting on a dead server. A maintenance loop pings a server that is down
// until it answers, and while it is up runs the catch-up hooks (writes that
// could not be made earlier).
type Client struct {
	opts   Options
	base   valkey.ClientOption
	log    *slog.Logger
	client atomic.Pointer[valkey.Client]
	down   atomic.Bool
	closed chan struct{}
	done   chan struct{}
	once   sync.Once

	mu          sync.Mutex
	catchUp     []func(context.Context) error
	invalidates []func(keys []string)
}

// maintainEvery is the maintenance loop's period: how soon a recovered
// server is used again, and how soon a failed write-back is retried.
const maintainEvery = 250 * time.Millisecond

// Connect prepares a client. A server that cannot be reached now is not an
// error: the client keeps trying in the background and reports itself
// down meanwhile. A malformed address is an error (EINVALID).
func Connect(opts Options) (*Client, error) {
	if opts.Prefix == "" {
		opts.Prefix = "sentinel:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base, err := clientOption(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, base: base, log: opts.Logger, closed: make(chan struct{}), done: make(chan struct{})}
	c.base.OnInvalidations = c.invalidated
	if err := c.dial(); err != nil {
		c.down.Store(true)
		c.log.Warn("valkey: cannot connect yet; deciding from the authority until it answers", "addr", c.describe(), "err", err)
	}
	go c.maintain()
	return c, nil
}

func clientOption(opts Options) (valkey.ClientOption, error) {
	var o valkey.ClientOption
	addr := strings.TrimSpace(opts.Addr)
	switch {
	case addr == "":
		return o, sentinel.Errorf(sentinel.EINVALID, "valkey: address is empty")
	case strings.Contains(addr, "://"):
		parsed, err := valkey.ParseURL(addr)
		if err != nil {
			return o, sentinel.Errorf(sentinel.EINVALID, "valkey: cannot parse the address URL: %v", err)
		}
		o = parsed
	default:
		for _, a := range strings.Split(addr, ",") {
			a = strings.TrimSpace(a)
			if _, _, err := net.SplitHostPort(a); err != nil {
				return o, sentinel.Errorf(sentinel.EINVALID, "valkey: %q is not host:port", a)
			}
			o.InitAddress = append(o.InitAddress, a)
		}
		o.ShuffleInit = true
	}
	if opts.Password != "" {
		o.Password = opts.Password
	}
	// Track only our binding keys, broadcast: every write to one of them
	// invalidates every proxy's copy, whatever connection wrote it.
	o.ClientTrackingOptions = []string{"PREFIX", opts.Prefix + bindingSpace, "BCAST"}
	// Fail fast: a read that cannot be answered goes to the authority.
	o.DisableRetry = true
	o.ConnWriteTimeout = opts.Timeout
	o.Dialer.Timeout = opts.Timeout
	o.ClientName = "sentinel"
	return o, nil
}

func (c *Client) dial() error {
	vc, err := valkey.NewClient(c.base)
	if err != nil {
		return err
	}
	if old := c.client.Swap(&vc); old != nil {
		(*old).Close()
	}
	c.invalidated(nil) // what was confirmed through another connection is not known here
	select {
	case <-c.closed: // closed while dialling: nobody else will close this one
		if vc := c.client.Swap(nil); vc != nil {
			(*vc).Close()
		}
		return errClosed
	default:
		return nil
	}
}

var errClosed = sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: client closed")

func (c *Client) describe() string {
	if strings.Contains(c.opts.Addr, "@") {
		return "(url with credentials)"
	}
	return c.opts.Addr
}

// Close stops the maintenance loop and closes the connection.
func (c *Client) Close() {
	c.once.Do(func() {
		close(c.closed)
		<-c.done
		if vc := c.client.Swap(nil); vc != nil {
			(*vc).Close()
		}
	})
}

// Up reports whether Valkey is believed usable.
func (c *Client) Up() bool { return !c.down.Load() }

// get returns the valkey client if Valkey is believed usable.
func (c *Client) get() (valkey.Client, bool) {
	if c.down.Load() {
		return nil, false
	}
	vc := c.client.Load()
	if vc == nil {
		return nil, false
	}
	return *vc, true
}

// onCatchUp registers fn to run on every maintenance tick while Valkey is
// up, and before Valkey is declared up again after an outage (if fn fails
// then, Valkey stays down until fn succeeds). fn writes what could not be
// written before; with nothing to write it must return at once.
func (c *Client) onCatchUp(fn func(context.Context) error) {
	c.mu.Lock()
	c.catchUp = append(c.catchUp, fn)
	c.mu.Unlock()
}

// onInvalidation registers fn to hear of the keys whose client-side
// copies Valkey's tracking invalidated, right after valkey-go dropped
// them; nil keys mean every copy (a connection lost or replaced, a flush).
// fn runs on valkey-go's reading goroutine and must be quick.
func (c *Client) onInvalidation(fn func(keys []string)) {
	c.mu.Lock()
	c.invalidates = append(c.invalidates, fn)
	c.mu.Unlock()
}

// invalidated is valkey-go's OnInvalidations: it passes the key names on
// (all of them, as nil, where one is not a name).
func (c *Client) invalidated(msgs []valkey.ValkeyMessage) {
	var keys []string
	if msgs != nil {
		keys = make([]string, 0, len(msgs))
		for _, m := range msgs {
			k, err := m.ToString()
			if err != nil {
				keys = nil
				break
			}
			keys = append(keys, k)
		}
	}
	c.mu.Lock()
	fns := c.invalidates
	c.mu.Unlock()
	for _, fn := range fns {
		fn(keys)
	}
}

// failed records that a call failed; err is the call's error and ctx the
// context it ran under. A cancelled caller is not Valkey's fault; a nil
// reply is an answer.
func (c *Client) failed(ctx context.Context, err error) {
	if err == nil || valkey.IsValkeyNil(err) || ctx.Err() != nil {
		return
	}
	if c.down.CompareAndSwap(false, true) {
		c.log.Warn("valkey: unavailable; deciding from the authority until it answers again", "addr", c.describe(), "err", err)
	}
}

func (c *Client) maintain() {
	defer close(c.done)
	tick := time.NewTicker(maintainEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-tick.C:
		}
		if !c.down.Load() {
			if err := c.runCatchUp(); err != nil {
				c.failed(context.Background(), err)
			}
			continue
		}
		if c.answers() {
			if err := c.runCatchUp(); err != nil {
				c.log.Debug("valkey: answers again, but catching up failed; retrying", "err", err)
				continue
			}
			c.invalidated(nil) // invalidations may have been missed while it was down
			c.down.Store(false)
			c.log.Info("valkey: available again; cache in use", "addr", c.describe())
		}
	}
}

// answers reports whether the server answers a PING, connecting if needed.
func (c *Client) answers() bool {
	vc := c.client.Load()
	if vc == nil {
		if c.dial() != nil {
			return false
		}
		if vc = c.client.Load(); vc == nil {
			return false
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	return (*vc).Do(ctx, (*vc).B().Ping().Build()).Error() == nil
}

func (c *Client) runCatchUp() error {
	c.mu.Lock()
	hooks := append([]func(context.Context) error{}, c.catchUp...)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*c.opts.Timeout)
	defer cancel()
	for _, h := range hooks {
		if err := h(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Persistent reports whether the server saves its data (RDB snapshots or
// an append-only file). A cache that outlives a restart of its server can
// bring back binding states older than changes made since the snapshot, so
// the cache should run without persistence. Managed servers may refuse
// CONFIG; that is an error, not an answer.
func (c *Client) Persistent(ctx context.Context) (bool, error) {
	vc, ok := c.get()
	if !ok {
		return false, sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	save, err := vc.Do(ctx, vc.B().ConfigGet().Parameter("save").Build()).AsStrMap()
	if err != nil {
		return false, translate(err, "read the persistence settings")
	}
	aof, err := vc.Do(ctx, vc.B().ConfigGet().Parameter("appendonly").Build()).AsStrMap()
	if err != nil {
		return false, translate(err, "read the persistence settings")
	}
	return strings.TrimSpace(save["save"]) != "" || aof["appendonly"] == "yes", nil
}

// translate turns a valkey error into a domain error.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if valkey.IsValkeyNil(err) {
		return sentinel.WrapError(sentinel.ENOTFOUND, err, "valkey: "+what+": no such key")
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up (a client hung up): not an outage, as in the
		// SQL adapters; errors.Is still finds the cause.
		return fmt.Errorf("valkey: %s: canceled: %w", what, err)
	}
	var ve *valkey.ValkeyError
	if errors.As(err, &ve) {
		if _, redirect := ve.IsRedirect(); !redirect && !ve.IsTryAgain() && !ve.IsClusterDown() && !ve.IsLoading() {
			return sentinel.WrapError(sentinel.EINTERNAL, err, "valkey: "+what) // the server refused the command itself
		}
	}
	return sentinel.WrapError(sentinel.EUNAVAILABLE, err, fmt.Sprintf("valkey: %s: unavailable", what))
}
