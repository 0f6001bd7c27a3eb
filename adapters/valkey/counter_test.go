package valkey_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vk "github.com/valkey-io/valkey-go"

	"github.com/keyipsentinel/sentinel/adapters/valkey"
	"github.com/keyipsentinel/sentinel/test/testenv"
)

func eachTopology(t *testing.T, fn func(t *testing.T, addr, prefix string)) {
	t.Run("standalone", func(t *testing.T) {
		addr, prefix := testenv.Redis(t)
		fn(t, addr, prefix)
	})
	t.Run("cluster", func(t *testing.T) {
		addrs, prefix := testenv.RedisCluster(t)
		fn(t, strings.Join(addrs, ","), prefix)
	})
}

func TestWindowCounter(t *testing.T) {
	eachTopology(t, func(t *testing.T, addr, prefix string) {
		ctx := context.Background()
		w := valkey.NewWindowCounter(connect(t, addr, prefix))
		for i := 1; i <= 5; i++ {
			n, err := w.Hit(ctx, "alert:k", 300*time.Millisecond)
			require.NoError(t, err)
			require.EqualValues(t, i, n)
		}
		n, err := w.Count(ctx, "alert:k")
		require.NoError(t, err)
		require.EqualValues(t, 5, n)
		n, err = w.Count(ctx, "alert:other")
		require.NoError(t, err)
		require.Zero(t, n)
		require.Eventually(t, func() bool {
			n, err := w.Count(ctx, "alert:k")
			return err == nil && n == 0
		}, 3*time.Second, 20*time.Millisecond, "the window closes on its own")
		n, err = w.Hit(ctx, "alert:k", time.Minute)
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "a new window opens")
		require.NoError(t, w.Clear(ctx, "alert:k"))
		n, err = w.Count(ctx, "alert:k")
		require.NoError(t, err)
		require.Zero(t, n)
		_, err = w.Hit(ctx, "x", 0)
		require.Error(t, err)
	})
}

func TestDailyCounter(t *testing.T) {
	eachTopology(t, func(t *testing.T, addr, prefix string) {
		ctx := context.Background()
		d := valkey.NewDailyCounter(connect(t, addr, prefix), 2)
		day := time.Date(2026, 11, 27, 23, 59, 0, 0, time.UTC)
		require.NoError(t, d.AddDaily(ctx, day, "refused", 3))
		require.NoError(t, d.AddDaily(ctx, day.Add(-time.Hour), "refused", 2))
		require.NoError(t, d.AddDaily(ctx, day, "allowed", 40))
		require.NoError(t, d.AddDaily(ctx, day.Add(time.Hour), "refused", 7))
		got, err := d.Daily(ctx, day)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"refused": 5, "allowed": 40}, got)
		got, err = d.Daily(ctx, day.Add(24*time.Hour))
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"refused": 7}, got)
		got, err = d.Daily(ctx, day.Add(-48*time.Hour))
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func TestSettingsNotifications(t *testing.T) {
	eachTopology(t, func(t *testing.T, addr, prefix string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		watcher := valkey.NewSettingsNotifier(connect(t, addr, prefix))
		var seen atomic.Int32
		watched := make(chan error, 1)
		go func() { watched <- watcher.WatchSettings(ctx, func() { seen.Add(1) }) }()
		defer func() { cancel(); require.NoError(t, <-watched) }()
		require.Eventually(t, func() bool { return seen.Load() == 1 }, 5*time.Second, 5*time.Millisecond, "listening")
		other := valkey.NewSettingsNotifier(connect(t, addr, testenv.Unique("t")+":"))
		require.NoError(t, other.NotifySettingsChanged(ctx))
		notifier := valkey.NewSettingsNotifier(connect(t, addr, prefix))
		require.NoError(t, notifier.NotifySettingsChanged(ctx))
		require.Eventually(t, func() bool { return seen.Load() == 2 }, 2*time.Second, 5*time.Millisecond,
			"one announcement on our prefix, none from the other deployment")
		require.NoError(t, notifier.NotifySettingsChanged(ctx))
		require.Eventually(t, func() bool { return seen.Load() == 3 }, 2*time.Second, 5*time.Millisecond)
	})
}

func TestPersistent(t *testing.T) {
	addr := testenv.PrivateRedis(t) // started with --save "" --appendonly no
	c := connect(t, addr, "t:")
	ctx := context.Background()
	p, err := c.Persistent(ctx)
	require.NoError(t, err)
	require.False(t, p)
	vc, err := vk.NewClient(vk.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	require.NoError(t, err)
	defer vc.Close()
	require.NoError(t, vc.Do(ctx, vc.B().ConfigSet().ParameterValue().ParameterValue("save", "3600 1").Build()).Error())
	p, err = c.Persistent(ctx)
	require.NoError(t, err)
	require.True(t, p)
}
