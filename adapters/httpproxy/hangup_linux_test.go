package httpproxy

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHangupWatcherWaitsInThePoller: the hang-up watcher waits for events
// in Go's poller, not in a blocking epoll_wait(2). A goroutine blocked in
// a system call keeps its P until the runtime's monitor takes the P back,
// which takes up to 10 ms when the process has been idle. With one P (the
// binaries' setting under light load), every goroutine waited that long
// each time the watcher began to wait: the process's first stream got its
// first event 10-20 ms late, and so did everything in flight after each
// hang-up the watcher reported.
func TestHangupWatcherWaitsInThePoller(t *testing.T) {
	require.NotNil(t, hangups(), "the watcher starts on Linux")
	state := goroutineState("(*epollWatcher).loop")
	for end := time.Now().Add(2 * time.Second); !strings.HasPrefix(state, "IO wait") && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
		state = goroutineState("(*epollWatcher).loop")
	}
	require.True(t, strings.HasPrefix(state, "IO wait"),
		"the watcher's goroutine waits in the poller (IO wait), not in a system call; its state: %q", state)
}

// goroutineState is the scheduling state ("IO wait", "syscall", ...) of
// the goroutine whose stack has frame in it, or "" when none has.
func goroutineState(frame string) string {
	buf := make([]byte, 1<<20)
	for n := runtime.Stack(buf, true); ; n = runtime.Stack(buf, true) {
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf)) // filled: every goroutine's stack may not be in it
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, frame) {
			continue
		}
		head, _, _ := strings.Cut(g, "\n") // goroutine 7 [IO wait]:
		_, state, _ := strings.Cut(head, "[")
		state, _, _ = strings.Cut(state, "]")
		return state
	}
	return ""
}
