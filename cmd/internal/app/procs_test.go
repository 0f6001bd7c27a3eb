package app

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProcsPolicyFollowsTheLoad(t *testing.T) {
	p := newProcsPolicy(4)
	step := func(used float64) int { n, _ := p.next(used); return n }

	// Light load: one P only after downAfter light intervals in a row.
	for i := range p.downAfter - 1 {
		require.Equal(t, 4, step(0.1), "interval %d", i)
	}
	require.Equal(t, 4, step(0.3), "a busier interval restarts the count")
	for range p.downAfter - 1 {
		require.Equal(t, 4, step(0.1))
	}
	n, changed := p.next(0.1)
	require.True(t, changed)
	require.Equal(t, 1, n)

	// On one P, load between the thresholds keeps it there...
	for range 20 {
		require.Equal(t, 1, step(0.4))
	}
	// ...and one busy interval brings the default back at once.
	n, changed = p.next(0.6)
	require.True(t, changed)
	require.Equal(t, 4, n)
	require.Equal(t, 4, step(1.7))
	require.Equal(t, 4, step(0.1), "and it takes a sustained quiet spell to go down again")
}

func TestAdaptProcsLeavesAnOperatorsGOMAXPROCS(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	t.Setenv("GOMAXPROCS", "2")
	require.False(t, adaptProcs(t.Context(), log), "GOMAXPROCS set: the operator's value stays")
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one CPU: there is nothing to adapt")
	}
	os.Unsetenv("GOMAXPROCS") // (t.Setenv restores it at the end)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	require.True(t, adaptProcs(ctx, log), "unset on a machine with several CPUs: it adapts")
}
