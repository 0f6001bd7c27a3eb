package valkey

import (
	"context"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Ping asks the server for a PONG within the client's timeout (or ctx's
// deadline, if sooner). It returns EUNAVAILABLE at once while the client
// believes Valkey down, and when the server does not answer.
func (c *Client) Ping(ctx context.Context) error {
	vc, ok := c.get()
	if !ok {
		return sentinel.Errorf(sentinel.EUNAVAILABLE, "valkey: unavailable")
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	err := vc.Do(ctx, vc.B().Ping().Build()).Error()
	if err != nil {
		c.failed(ctx, err)
		return sentinel.WrapError(sentinel.EUNAVAILABLE, err, "valkey: ping")
	}
	return nil
}
