package valkey_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/test/relay"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

func TestPingFollowsTheServer(t *testing.T) {
	addr, prefix := testenv.Redis(t)
	r := relay.Start(t, addr)
	c := connect(t, r.Addr(), prefix)
	require.Eventually(t, func() bool { return c.Ping(context.Background()) == nil }, 10*time.Second, 20*time.Millisecond)
	r.Cut()
	require.Eventually(t, func() bool {
		err := c.Ping(context.Background())
		return err != nil && sentinel.ErrorCode(err) == sentinel.EUNAVAILABLE
	}, 10*time.Second, 20*time.Millisecond, "a cut server fails the ping")
	r.Restore()
	require.Eventually(t, func() bool { return c.Ping(context.Background()) == nil }, 10*time.Second, 20*time.Millisecond, "and passes once it answers")
}
