package httpproxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// hangupDelay is how long a request runs before its client's connection
// is watched for a hang-up: a small request is answered before, and costs
// no system call for it.
const hangupDelay = 50 * time.Millisecond

const (
	watchIdle = iota
	watchArmed
	watchRegistered
)

// hangupWatch cancels a request's context when its client hangs up while
// the answer is pending or streaming: what net/http's background read
// does with a goroutine per connection, done here by one epoll instance
// (EPOLLRDHUP) for the whole process. Guarded by its connection's mu.
type hangupWatch struct {
	c     *serverConn
	state int
	timer *time.Timer
	// ticking: the timer is set; seq counts the requests armed, seen is
	// the one armed at the timer's last setting.
	ticking   bool
	seq, seen uint64
	rctx      *requestContext
	raw       syscall.RawConn // nil until first needed; nil for good if there is no socket
	noRaw     bool
	id        uint64 // of the current registration: an event names it, not the descriptor
}

// arm watches the request rctx belongs to once it has run for
// hangupDelay. The timer is not moved per request: while requests follow
// each other on the connection it keeps ticking, and a request watched
// is one that was already running at the tick before (so, between one
// and two delays in), not one that began since (seq tells them apart).
func (h *hangupWatch) arm(c *serverConn, rctx *requestContext) {
	if h.c == nil {
		h.c = c // once, before the timer's goroutine reads it
	}
	c.mu.Lock()
	h.rctx, h.state = rctx, watchArmed
	h.seq++
	switch {
	case h.timer == nil:
		h.timer = time.AfterFunc(hangupDelay, h.fire)
	case !h.ticking:
		h.timer.Reset(hangupDelay)
	default:
		c.mu.Unlock()
		return
	}
	h.ticking, h.seen = true, h.seq // a whole delay for this request
	c.mu.Unlock()
}

// fire registers the connection with the watcher; the timer's goroutine.
func (h *hangupWatch) fire() {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.state != watchArmed {
		h.ticking = false // idle: the next arm starts the timer again
		return
	}
	if h.seen != h.seq {
		// The request began after the last tick: one more delay.
		h.seen = h.seq
		h.timer.Reset(hangupDelay)
		return
	}
	h.ticking = false
	w := hangups()
	if h.raw == nil && !h.noRaw {
		h.raw = rawConn(c.rwc)
		h.noRaw = h.raw == nil
	}
	if w == nil || h.raw == nil || w.add(h) != nil {
		h.state = watchIdle
		return
	}
	h.state = watchRegistered
}

// disarm ends the watch of the current request. An armed timer is left to
// tick once more and stop (no timer move per request).
func (h *hangupWatch) disarm() {
	c := h.c
	if c == nil {
		return
	}
	c.mu.Lock()
	if h.state == watchRegistered {
		hangups().del(h)
	}
	h.state, h.rctx = watchIdle, nil
	c.mu.Unlock()
}

func (h *hangupWatch) hungUp(id uint64) {
	c := h.c
	c.mu.Lock()
	if h.state == watchRegistered && h.id == id && h.rctx != nil {
		h.rctx.cancel()
	}
	c.mu.Unlock()
}

// rawConn is the socket under c's wrappers, or nil.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := innerConn(c).(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// epollWatcher waits, on one goroutine, for any watched connection's
// peer to hang up (EPOLLRDHUP, EPOLLHUP, EPOLLERR; one-shot). Events carry
// a registration id, never looked up by descriptor: a descriptor closed
// and reused by another connection cannot take the old one's event.
// Descriptors are added and removed through RawConn.Control, which fails
// on a closed connection and holds the descriptor open meanwhile, so no
// call ever reaches another connection's socket.
//
// The watcher waits in Go's poller, on the epoll descriptor itself (an
// epoll instance is readable while it has events), and takes the events
// with epoll_wait(2) of timeout 0. A blocking epoll_wait would keep the
// goroutine's P in a system call until the runtime's monitor took it
// back, up to 10 ms after the process was idle: with one P, the whole
// proxy stalled each time the watcher began to wait. The price: adding a
// descriptor to an epoll instance that is itself watched takes the
// kernel's lock for nested epoll and checks the new socket's wake-up
// paths, once per request watched (one that runs past hangupDelay).
type epollWatcher struct {
	epfd    int
	file    *os.File        // epfd's owner, never closed: add and del use epfd as is
	rc      syscall.RawConn // file's, for the poller's wait
	dead    atomic.Bool
	mu      sync.Mutex
	next    uint64
	watched map[uint64]*hangupWatch
}

var hangups = sync.OnceValue(func() *epollWatcher {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil // no watching: a hang-up is then seen on the next write
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "hang-up watcher") // non-blocking: in the poller
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close() // not in the poller (os.ErrNoDeadline): no watching
		return nil
	}
	rc, _ := f.SyscallConn() // (fails only for a nil File)
	w := &epollWatcher{epfd: fd, file: f, rc: rc, watched: map[uint64]*hangupWatch{}}
	go w.loop()
	return w
})

var errWatcherDead = errors.New("httpproxy: the hang-up watcher stopped")

func (w *epollWatcher) add(h *hangupWatch) error {
	if w.dead.Load() {
		return errWatcherDead
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	id := w.next
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var err error
	if cerr := h.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	h.id = id
	w.watched[id] = h
	return nil
}

// del stops watching h's connection; a closed one left the set by itself.
func (w *epollWatcher) del(h *hangupWatch) {
	w.mu.Lock()
	delete(w.watched, h.id)
	w.mu.Unlock()
	_ = h.raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, int(fd), &syscall.EpollEvent{})
	})
}

func (w *epollWatcher) loop() {
	events := make([]syscall.EpollEvent, 64)
	var n int
	var err error
	take := func(fd uintptr) bool {
		for {
			n, err = syscall.EpollWait(int(fd), events, 0)
			if err != syscall.EINTR {
				return n > 0 || err != nil // none yet: wait in the poller
			}
		}
	}
	for {
		if rerr := w.rc.Read(take); rerr != nil || err != nil {
			w.dead.Store(true) // hang-ups are then seen on the next write
			return
		}
		for i := range n {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			w.mu.Lock()
			h := w.watched[id]
			w.mu.Unlock()
			if h != nil {
				h.hungUp(id)
			}
		}
	}
}
