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
// waiting on a dead server; a probe notices recovery.
type Client struct {
	opts    Options
	base    valkey.ClientOption
	log     *slog.Logger
	client  atomic.Pointer[valkey.Client]
	down    atomic.Bool
	probing atomic.Bool
	closed  chan struct{}
	once    sync.Once

	mu        sync.Mutex
	onRecover []func(context.Context) error
}

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
	c := &Client{opts: opts, base: base, log: opts.Logger, closed: make(chan struct{})}
	c.down.Store(true)
	if err := c.dial(); err != nil {
		c.log.Warn("valkey: cannot connect yet; deciding from the authority until it answers", "addr", c.describe(), "err", err)
		c.startProbe()
		return c, nil
	}
	c.down.Store(false)
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
	return nil
}

func (c *Client) describe() string {
	if strings.Contains(c.opts.Addr, "@") {
		return "(url with credentials)"
	}
	return c.opts.Addr
}

// Close closes the connection and stops the probe.
func (c *Client) Close() {
	c.once.Do(func() {
		close(c.closed)
		if vc := c.client.Swap(nil); vc != nil {
			(*vc).Close()
		}
	})
}

// Prefix returns the key prefix.
func (c *Client) Prefix() string { return c.opts.Prefix }

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

// OnRecover registers fn to run each time Valkey answers again, before it
// is declared usable; if fn fails, Valkey stays down and fn runs again at
// the next successful probe.
func (c *Client) OnRecover(fn func(context.Context) error) {
	c.mu.Lock()
	c.onRecover = append(c.onRecover, fn)
	c.mu.Unlock()
}

// failed records that a call failed; err is the call's error. A cancelled
// caller is not Valkey's fault; a nil reply is an answer.
func (c *Client) failed(ctx context.Context, err error) {
	if err == nil || valkey.IsValkeyNil(err) || ctx.Err() != nil {
		return
	}
	if c.down.CompareAndSwap(false, true) {
		c.log.Warn("valkey: unavailable; deciding from the authority until it answers again", "addr", c.describe(), "err", err)
		c.startProbe()
	}
}

func (c *Client) startProbe() {
	if !c.probing.CompareAndSwap(false, true) {
		return
	}
	go c.probe()
}

// probe pings until Valkey answers, then declares it up and runs the
// recovery hooks.
func (c *Client) probe() {
	defer c.probing.Store(false)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-tick.C:
		}
		vc := c.client.Load()
		if vc == nil {
			if err := c.dial(); err != nil {
				continue
			}
			vc = c.client.Load()
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		err := (*vc).Do(ctx, (*vc).B().Ping().Build()).Error()
		cancel()
		if err != nil {
			continue
		}
		if err := c.runRecoveryHooks(); err != nil {
			c.log.Debug("valkey: answers again, but catching up failed; retrying", "err", err)
			continue
		}
		c.down.Store(false)
		// Writes queued while the hooks ran would otherwise wait for the
		// next outage.
		if err := c.runRecoveryHooks(); err != nil {
			c.failed(context.Background(), err)
		}
		c.log.Info("valkey: available again; cache in use", "addr", c.describe())
		return
	}
}

func (c *Client) runRecoveryHooks() error {
	c.mu.Lock()
	hooks := append([]func(context.Context) error{}, c.onRecover...)
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

// translate turns a valkey error into a domain error.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if valkey.IsValkeyNil(err) {
		return sentinel.WrapError(sentinel.ENOTFOUND, err, "valkey: "+what+": no such key")
	}
	var ve *valkey.ValkeyError
	if errors.As(err, &ve) {
		if _, redirect := ve.IsRedirect(); !redirect && !ve.IsTryAgain() && !ve.IsClusterDown() && !ve.IsLoading() {
			return sentinel.WrapError(sentinel.EINTERNAL, err, "valkey: "+what) // the server refused the command itself
		}
	}
	return sentinel.WrapError(sentinel.EUNAVAILABLE, err, fmt.Sprintf("valkey: %s: unavailable", what))
}
