package sentinel_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	sentinel "github.com/keyipsentinel/sentinel"
)

// flakyStore keeps what it is given unless told to fail.
type flakyStore struct {
	mu         sync.Mutex
	down       bool
	uses       map[sentinel.KeyHash]sentinel.Use
	intercepts []sentinel.Intercept
	touchCalls int
}

var errDown = sentinel.Errorf(sentinel.EUNAVAILABLE, "store down")

func (f *flakyStore) setDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *flakyStore) TouchBindings(_ context.Context, uses []sentinel.Use) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	f.touchCalls++
	if f.uses == nil {
		f.uses = map[sentinel.KeyHash]sentinel.Use{}
	}
	for _, u := range uses {
		f.uses[u.Key] = u
	}
	return nil
}

func (f *flakyStore) AddIntercepts(_ context.Context, is []sentinel.Intercept) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	f.intercepts = append(f.intercepts, is...)
	return nil
}

func (f *flakyStore) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.uses), len(f.intercepts)
}

func TestBatchRecorderOneWritePerKeyPerInterval(t *testing.T) {
	store := &flakyStore{}
	r := sentinel.NewBatchRecorder(store, store, sentinel.BatchRecorderOptions{})
	base := time.Now()
	for i := range 1000 {
		r.RecordUse(sentinel.Use{Key: key("a"), Addr: netip.MustParseAddr("192.0.2.1"), At: base.Add(time.Duration(i) * time.Millisecond)})
		r.RecordUse(sentinel.Use{Key: key("b"), Addr: netip.MustParseAddr("192.0.2.2"), At: base})
	}
	mustNoError(t, r.Flush(context.Background()))
	mustEqual(t, 1, store.touchCalls, "one batch")
	mustLen(t, store.uses, 2, "one row per key")
	mustEqual(t, base.Add(999*time.Millisecond), store.uses[key("a")].At, "the latest use wins")
	mustEqualValues(t, 2, r.Stats().UsesWritten)
}

func TestBatchRecorderKeepsEverythingThroughAnOutage(t *testing.T) {
	store := &flakyStore{}
	r := sentinel.NewBatchRecorder(store, store, sentinel.BatchRecorderOptions{
		UseInterval: 10 * time.Millisecond, InterceptInterval: 10 * time.Millisecond, BatchSize: 7, MaxBackoff: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	store.setDown(true)
	for i := range 50 {
		r.RecordIntercept(sentinel.Intercept{Key: key("k"), ClientIP: netip.MustParseAddr("192.0.2.9"), Reason: sentinel.ReasonIPNotAllowed, At: time.Now()})
		r.RecordUse(sentinel.Use{Key: key(string(rune('a' + i))), Addr: netip.MustParseAddr("192.0.2.1"), At: time.Now()})
	}
	eventually(t, func() bool { return r.Stats().WriteFailures > 2 }, 5*time.Second, 5*time.Millisecond)
	uses, intercepts := store.counts()
	mustZero(t, uses)
	mustZero(t, intercepts)

	store.setDown(false)
	eventually(t, func() bool {
		uses, intercepts := store.counts()
		return uses == 50 && intercepts == 50
	}, 5*time.Second, 5*time.Millisecond, "everything is written after the store comes back")
	st := r.Stats()
	mustZero(t, st.InterceptsDropped)
	mustZero(t, st.InterceptsPending)
	mustZero(t, st.UsesPending)
}

func TestBatchRecorderIsBounded(t *testing.T) {
	store := &flakyStore{down: true}
	r := sentinel.NewBatchRecorder(store, store, sentinel.BatchRecorderOptions{MaxPendingIntercepts: 100, MaxPendingUses: 10})
	for i := range 1000 {
		r.RecordIntercept(sentinel.Intercept{Path: string(rune(i))})
		r.RecordUse(sentinel.Use{Key: key(string(rune(i))), At: time.Now()})
	}
	st := r.Stats()
	mustLessOrEqual(t, st.InterceptsPending, int64(100))
	mustEqualValues(t, 1000, st.InterceptsPending+st.InterceptsDropped)
	mustEqualValues(t, 10, st.UsesPending)
	mustEqualValues(t, 990, st.UsesDropped)
	mustError(t, r.Flush(context.Background()))

	store.setDown(false)
	mustNoError(t, r.Flush(context.Background()))
	_, intercepts := store.counts()
	mustEqualValues(t, st.InterceptsPending, intercepts, "the newest are kept")
	mustEqual(t, string(rune(999)), store.intercepts[len(store.intercepts)-1].Path)
}

func TestInterceptSanitized(t *testing.T) {
	i := sentinel.Intercept{Path: "/v1/\xff\x00bad" + string(make([]byte, 600)), UserAgent: "é" + string(make([]byte, 300))}.Sanitized()
	mustLessOrEqual(t, len(i.Path), sentinel.MaxPathLen)
	mustNotContains(t, i.Path, "\x00")
	mustLessOrEqual(t, len(i.UserAgent), sentinel.MaxUserAgentLen)
	mustTrue(t, utf8.ValidString(i.Path) && utf8.ValidString(i.UserAgent))
	mustTrue(t, strings.HasPrefix(i.UserAgent, "é"))
}
