package sentinel

import (
	"context"
	"time"
)

// WindowCounter counts events per name over a window that opens with the
// first event: refusals of a key for alerts (ALERT_THRESHOLD_COUNT within
// ALERT_THRESHOLD_SECONDS), failed admin logins per client address for
// lockout. Shared by every process of a deployment. Every method may
// return EUNAVAILABLE.
type WindowCounter interface {
	// Hit counts one event for name and returns how many name has had since
	// its window opened; the first event opens a window of the given length.
	Hit(ctx context.Context, name string, window time.Duration) (int64, error)
	// Count returns name's count in its open window, 0 when none is open.
	Count(ctx context.Context, name string) (int64, error)
	// Clear closes name's window.
	Clear(ctx context.Context, name string) error
}

// DailyCounter keeps per-day totals for the dashboard. Days are UTC dates.
// Every method may return EUNAVAILABLE.
type DailyCounter interface {
	// AddDaily adds n to metric for the day containing t.
	AddDaily(ctx context.Context, t time.Time, metric string, n int64) error
	// Daily returns every metric's total for the day containing t.
	Daily(ctx context.Context, t time.Time) (map[string]int64, error)
}

// SettingsNotifier tells every process of a deployment that the live
// settings changed, so each reloads them from the store.
type SettingsNotifier interface {
	// NotifySettingsChanged announces a change.
	NotifySettingsChanged(ctx context.Context) error
	// WatchSettings listens until ctx is done, then returns nil: the
	// caller owns the goroutine it runs in. It calls changed after every
	// announcement, and once each time it starts or resumes listening
	// (announcements may have been missed before), so the first call also
	// says it is listening. An error means it cannot listen at all.
	WatchSettings(ctx context.Context, changed func()) error
}
