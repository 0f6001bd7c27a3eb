// Package mock has function-field fakes of the sentinel ports, for tests
// that need a port to fail or to answer in a particular way. A nil function
// field panics when called, so a test states every call it expects.
package mock

import (
	"context"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Decider is a sentinel.Decider made of functions.
type Decider struct {
	DecideFn       func(ctx context.Context, req sentinel.Request) (sentinel.Decision, error)
	UnauthorizedFn func(ctx context.Context, req sentinel.Request, d sentinel.Decision) error
}

var _ sentinel.Decider = (*Decider)(nil)

// Decide calls DecideFn.
func (m *Decider) Decide(ctx context.Context, req sentinel.Request) (sentinel.Decision, error) {
	return m.DecideFn(ctx, req)
}

// Unauthorized calls UnauthorizedFn.
func (m *Decider) Unauthorized(ctx context.Context, req sentinel.Request, d sentinel.Decision) error {
	return m.UnauthorizedFn(ctx, req, d)
}

// Recorder is a sentinel.Recorder made of functions.
type Recorder struct {
	RecordInterceptFn func(sentinel.Intercept)
	RecordUseFn       func(sentinel.Use)
}

var _ sentinel.Recorder = (*Recorder)(nil)

// RecordIntercept calls RecordInterceptFn.
func (m *Recorder) RecordIntercept(i sentinel.Intercept) { m.RecordInterceptFn(i) }

// RecordUse calls RecordUseFn.
func (m *Recorder) RecordUse(u sentinel.Use) { m.RecordUseFn(u) }
