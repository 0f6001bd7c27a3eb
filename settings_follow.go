package sentinel

import (
	"context"
	"log/slog"
	"time"
)

// SettingsFollowerOptions configure a SettingsFollower.
type SettingsFollowerOptions struct {
	Store SettingsStore
	// Notifier announces changes; nil relies on polling alone.
	Notifier SettingsNotifier
	Live     *LiveSettings
	// Defaults are the environment's settings, used for every field the
	// store never saved.
	Defaults Settings
	// Poll, when positive, is how often the store's settings version is
	// checked, for deployments whose notifier does not reach every process
	// (two processes on one SQLite file). Keep it under a second.
	Poll   time.Duration
	Logger *slog.Logger
}

// SettingsFollower keeps a process's LiveSettings equal to the stored
// settings: it reloads them whenever the notifier announces a change or
// the polled version moves.
type SettingsFollower struct {
	opts    SettingsFollowerOptions
	version int64 // only touched by Reload's callers in Run, and Reload itself
}

// NewSettingsFollower returns a follower; call Run to start following.
func NewSettingsFollower(opts SettingsFollowerOptions) *SettingsFollower {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &SettingsFollower{opts: opts}
}

// Current returns the settings in effect if stored are laid over the
// defaults. EINVALID when the result is not valid.
func (f *SettingsFollower) Current(ctx context.Context) (Settings, int64, error) {
	p, v, err := f.opts.Store.StoredSettings(ctx)
	if err != nil {
		return Settings{}, 0, err
	}
	s := f.opts.Defaults.Apply(p)
	if err := s.Validate(); err != nil {
		return Settings{}, v, err
	}
	return s, v, nil
}

// Reload loads the stored settings into the LiveSettings.
func (f *SettingsFollower) Reload(ctx context.Context) error {
	s, v, err := f.Current(ctx)
	if err != nil {
		return err
	}
	if err := f.opts.Live.Store(s); err != nil {
		return err
	}
	f.version = v
	return nil
}

// Run reloads at once, then on every announcement and version change,
// until ctx is done. A failed reload is logged and retried at the next
// poll or announcement; the previous settings stay in effect meanwhile.
func (f *SettingsFollower) Run(ctx context.Context) error {
	kick := make(chan struct{}, 1)
	if f.opts.Notifier != nil {
		ctx, stop := context.WithCancel(ctx)
		watched := make(chan error, 1)
		go func() {
			watched <- f.opts.Notifier.WatchSettings(ctx, func() {
				select {
				case kick <- struct{}{}:
				default:
				}
			})
		}()
		defer func() { stop(); <-watched }() // the watch never outlives Run
	}
	if err := f.Reload(ctx); err != nil {
		f.opts.Logger.Warn("live settings not loaded; keeping the current ones", "error", err)
	}
	var tick <-chan time.Time
	if f.opts.Poll > 0 {
		t := time.NewTicker(f.opts.Poll)
		defer t.Stop()
		tick = t.C
	}
	failed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-tick:
			if !failed {
				v, err := f.opts.Store.SettingsVersion(ctx)
				if err == nil && v == f.version {
					continue
				}
			}
		}
		err := f.Reload(ctx)
		if err != nil && ctx.Err() == nil {
			f.opts.Logger.Warn("live settings not reloaded; keeping the current ones", "error", err)
		}
		failed = err != nil
	}
}
