package sentinel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/clock"
)

// fakeArchive is an ArchiveStore over counts: stale bindings and old
// intercepts, handed out in batches.
type fakeArchive struct {
	stale, old int
	locked     bool
	failAfter  int // fail the batch after this many, 0 never
	batches    int
	cutoffs    []time.Time
}

func (f *fakeArchive) ArchiveBindings(_ context.Context, cutoff time.Time, limit int, _ time.Time) ([]sentinel.Binding, error) {
	f.batches++
	if f.failAfter > 0 && f.batches > f.failAfter {
		return nil, sentinel.Errorf(sentinel.EUNAVAILABLE, "store down")
	}
	f.cutoffs = append(f.cutoffs, cutoff)
	n := min(limit, f.stale)
	f.stale -= n
	out := make([]sentinel.Binding, n)
	for i := range out {
		out[i].Key[0] = byte(f.stale + i)
	}
	return out, nil
}

func (f *fakeArchive) PurgeIntercepts(_ context.Context, _ time.Time, limit int) (int, error) {
	f.batches++
	n := min(limit, f.old)
	f.old -= n
	return n, nil
}

func (f *fakeArchive) ListArchivedBindings(context.Context, sentinel.ArchiveFilter) ([]sentinel.ArchivedBinding, int, error) {
	return nil, 0, nil
}

func (f *fakeArchive) RestoreBinding(context.Context, int64, time.Time, *sentinel.AuditEntry) (sentinel.Binding, error) {
	return sentinel.Binding{}, nil
}

func (f *fakeArchive) WithArchiveLock(ctx context.Context, fn func(context.Context) error) (bool, error) {
	if f.locked {
		return false, nil
	}
	return true, fn(ctx)
}

// forgetSink is a BindingForgetter counting what it is told.
type forgetSink struct{ n int }

func (f *forgetSink) ForgetBindings(_ context.Context, bs []sentinel.Binding) error {
	f.n += len(bs)
	return errors.New("cache down") // a failing cache does not stop archiving
}

func archiveLiveSettings(t *testing.T, days int) *sentinel.LiveSettings {
	t.Helper()
	l, err := sentinel.NewLiveSettings(sentinel.Settings{EnforceMode: sentinel.ModeEnforce, FailsafeMode: sentinel.FailsafeClosed,
		AlertThresholdCount: 5, AlertWindow: time.Minute, ArchiveDays: days})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestArchiverRunOnce(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name                 string
		store                fakeArchive
		days, retention      int
		wantArchived         int
		wantPurged           int
		wantBatches          int
		wantSkipped, wantErr bool
	}{
		{name: "batches until a short one", store: fakeArchive{stale: 25, old: 7}, days: 90,
			wantArchived: 25, wantPurged: 7, wantBatches: 3 + 1},
		{name: "exact multiple ends with an empty batch", store: fakeArchive{stale: 20}, days: 90,
			wantArchived: 20, wantBatches: 3 + 1},
		{name: "archive days 0", store: fakeArchive{stale: 25, old: 3}, days: 0, wantPurged: 3, wantBatches: 1},
		{name: "retention off", store: fakeArchive{stale: 5, old: 3}, days: 90, retention: -1, wantArchived: 5, wantBatches: 1},
		{name: "another archiver holds the lock", store: fakeArchive{stale: 5, locked: true}, days: 90, wantSkipped: true},
		{name: "a failing batch stops the run", store: fakeArchive{stale: 50, failAfter: 2}, days: 90,
			wantArchived: 20, wantBatches: 3, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forget := &forgetSink{}
			a := sentinel.NewArchiver(&tt.store, archiveLiveSettings(t, tt.days), sentinel.ArchiverOptions{
				BatchSize: 10, LogRetentionDays: tt.retention, Forget: forget, Clock: clock.NewManual(now),
			})
			rep, err := a.RunOnce(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if rep.Archived != tt.wantArchived || rep.Purged != tt.wantPurged || rep.Batches != tt.wantBatches || rep.Skipped != tt.wantSkipped {
				t.Errorf("report %+v, want archived %d purged %d batches %d skipped %v",
					rep, tt.wantArchived, tt.wantPurged, tt.wantBatches, tt.wantSkipped)
			}
			if forget.n != tt.wantArchived {
				t.Errorf("cache told of %d, want %d", forget.n, tt.wantArchived)
			}
			for _, c := range tt.store.cutoffs {
				if want := now.Add(-time.Duration(tt.days) * 24 * time.Hour); !c.Equal(want) {
					t.Errorf("cutoff %v, want %v", c, want)
				}
			}
		})
	}
}

func TestArchiverRunStopsWithContext(t *testing.T) {
	store := &fakeArchive{stale: 3}
	a := sentinel.NewArchiver(store, archiveLiveSettings(t, 90), sentinel.ArchiverOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx, time.Hour) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// lockSignal is a fakeArchive telling each lock attempt.
type lockSignal struct {
	*fakeArchive
	tried chan struct{}
}

func (l lockSignal) WithArchiveLock(ctx context.Context, fn func(context.Context) error) (bool, error) {
	defer func() { l.tried <- struct{}{} }()
	return l.fakeArchive.WithArchiveLock(ctx, fn)
}

// TestArchiverRunTellsRan: every run of Run that did something is
// reported to Ran (for metrics), with its report or its error; a run that
// found the lock taken is not.
func TestArchiverRunTellsRan(t *testing.T) {
	type ran struct {
		rep sentinel.ArchiveReport
		err error
	}
	for _, tt := range []struct {
		name     string
		store    fakeArchive
		archived int
		fails    bool
	}{
		{name: "ok", store: fakeArchive{stale: 3}, archived: 3},
		{name: "failed", store: fakeArchive{stale: 5000, failAfter: 1}, archived: 1000, fails: true}, // the first batch went through
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			reports := make(chan ran, 1)
			a := sentinel.NewArchiver(&tt.store, archiveLiveSettings(t, 90), sentinel.ArchiverOptions{
				BatchSize: 1000,
				Ran: func(_ time.Time, rep sentinel.ArchiveReport, err error) {
					reports <- ran{rep, err}
					cancel()
				},
			})
			done := make(chan error)
			go func() { done <- a.Run(ctx, time.Hour) }()
			r := <-reports
			if err := <-done; err != nil {
				t.Fatalf("Run returned %v", err)
			}
			if (r.err != nil) != tt.fails {
				t.Fatalf("Ran err = %v, want failing %v", r.err, tt.fails)
			}
			if r.rep.Archived != tt.archived {
				t.Errorf("Ran archived = %d, want %d", r.rep.Archived, tt.archived)
			}
		})
	}
	t.Run("skipped", func(t *testing.T) {
		store := lockSignal{&fakeArchive{stale: 3, locked: true}, make(chan struct{})}
		reported := make(chan struct{}, 10)
		a := sentinel.NewArchiver(store, archiveLiveSettings(t, 90), sentinel.ArchiverOptions{
			Ran: func(time.Time, sentinel.ArchiveReport, error) { reported <- struct{}{} },
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- a.Run(ctx, time.Millisecond) }()
		<-store.tried
		<-store.tried // the first pass is over, Ran told or not
		cancel()
		for stopped := false; !stopped; {
			select {
			case <-store.tried: // a last attempt may be under way
			case err := <-done:
				if err != nil {
					t.Fatalf("Run returned %v", err)
				}
				stopped = true
			}
		}
		if len(reported) != 0 {
			t.Fatalf("%d skipped runs reported to Ran", len(reported))
		}
	})
}
