package valkey

import (
	"context"
	"time"

	"github.com/valkey-io/valkey-go"

	sentinel "github.com/keyipsentinel/sentinel"
)

// SettingsNotifier is the sentinel.SettingsNotifier over Valkey pub/sub.
type SettingsNotifier struct {
	c *Client
}

var _ sentinel.SettingsNotifier = (*SettingsNotifier)(nil)

// NewSettingsNotifier returns a notifier on c.
func NewSettingsNotifier(c *Client) *SettingsNotifier { return &SettingsNotifier{c: c} }

func (n *SettingsNotifier) channel() string { return n.c.opts.Prefix + "settings" }

// NotifySettingsChanged implements sentinel.SettingsNotifier.
func (n *SettingsNotifier) NotifySettingsChanged(ctx context.Context) error {
	vc, ok := n.c.get()
	if !ok {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	err := vc.Do(ctx, vc.B().Publish().Channel(n.channel()).Message("changed").Build()).Error()
	n.c.failed(ctx, err)
	return translate(err, "publish settings change")
}

// WatchSettings implements sentinel.SettingsNotifier on a dedicated
// connection, resubscribing a second after every disconnection, until ctx
// is done. It never gives up: an unreachable server is retried.
func (n *SettingsNotifier) WatchSettings(ctx context.Context, changed func()) error {
	for ctx.Err() == nil {
		_ = n.subscribe(ctx, changed, changed) // each (re)subscription may have missed announcements
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// subscribe holds one subscription until it breaks or ctx is done, calling
// subscribed once the server confirms it and changed for every message.
func (n *SettingsNotifier) subscribe(ctx context.Context, subscribed, changed func()) error {
	vcp := n.c.client.Load()
	if vcp == nil {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: not connected")
	}
	dc, cancel := (*vcp).Dedicate()
	defer cancel()
	confirmed := make(chan struct{}, 1)
	wait := dc.SetPubSubHooks(valkey.PubSubHooks{
		OnMessage: func(valkey.PubSubMessage) { changed() },
		OnSubscription: func(s valkey.PubSubSubscription) {
			if s.Kind == "subscribe" {
				select {
				case confirmed <- struct{}{}:
				default:
				}
			}
		},
	})
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(n.channel()).Build()).Error(); err != nil {
		return err
	}
	select {
	case <-confirmed:
	case err := <-wait:
		return err
	case <-ctx.Done():
		return nil
	}
	subscribed()
	select {
	case err := <-wait:
		return err
	case <-ctx.Done():
		return nil
	}
}
