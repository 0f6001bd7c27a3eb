package clock_test

import (
	"testing"
	"time"

	"github.com/keyipsentinel/sentinel/adapters/clock"
)

func TestManual(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m := clock.NewManual(start)
	if got := m.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	if got := m.Advance(90 * time.Second); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("Advance returned %v", got)
	}
	later := start.Add(48 * time.Hour)
	m.Set(later)
	if got := m.Now(); !got.Equal(later) {
		t.Fatalf("after Set, Now() = %v, want %v", got, later)
	}
}

func TestSystemMoves(t *testing.T) {
	a := clock.System{}.Now()
	b := clock.System{}.Now()
	if b.Before(a) {
		t.Fatalf("system clock went backwards: %v then %v", a, b)
	}
}
