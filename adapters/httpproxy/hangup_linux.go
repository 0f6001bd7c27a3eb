package httpproxy

import (
	"context"
	"net"
	"sync"
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
	c      *serverConn
	state  int
	timer  *time.Timer
	cancel context.CancelFunc
	fd     int
}

func (h *hangupWatch) arm(c *serverConn, cancel context.CancelFunc) {
	c.mu.Lock()
	h.c, h.cancel, h.state = c, cancel, watchArmed
	if h.timer == nil {
		h.fd = -1
		h.timer = time.AfterFunc(hangupDelay, h.fire)
	} else {
		h.timer.Reset(hangupDelay)
	}
	c.mu.Unlock()
}

// fire registers the connection with the watcher; the timer's goroutine.
func (h *hangupWatch) fire() {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.state != watchArmed {
		return
	}
	w := hangups()
	if h.fd < 0 {
		h.fd = connFD(c.rwc)
	}
	if w == nil || h.fd < 0 || w.add(h.fd, h) != nil {
		h.state = watchIdle
		return
	}
	h.state = watchRegistered
}

func (h *hangupWatch) disarm() {
	c := h.c
	if c == nil {
		return
	}
	c.mu.Lock()
	switch h.state {
	case watchArmed:
		h.timer.Stop()
	case watchRegistered:
		hangups().del(h.fd, h)
	}
	h.state, h.cancel = watchIdle, nil
	c.mu.Unlock()
}

func (h *hangupWatch) hungUp() {
	c := h.c
	c.mu.Lock()
	if h.state == watchRegistered && h.cancel != nil {
		h.cancel()
	}
	c.mu.Unlock()
}

// connFD is the socket's descriptor, or -1.
func connFD(c net.Conn) int {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil {
		return -1
	}
	return fd
}

// epollWatcher waits, on one goroutine, for any watched connection's
// peer to hang up (EPOLLRDHUP, EPOLLHUP, EPOLLERR; one-shot).
type epollWatcher struct {
	epfd    int
	mu      sync.Mutex
	watched map[int32]*hangupWatch
}

var hangups = sync.OnceValue(func() *epollWatcher {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil // no watching: a hang-up is then seen on the next write
	}
	w := &epollWatcher{epfd: fd, watched: map[int32]*hangupWatch{}}
	go w.loop()
	return w
})

func (w *epollWatcher) add(fd int, h *hangupWatch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	if err := syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	w.watched[int32(fd)] = h
	return nil
}

// del stops watching fd for h. A descriptor closed meanwhile (Server.Close)
// left the epoll set by itself, and its number may be another
// connection's now: only h's own entry is removed.
func (w *epollWatcher) del(fd int, h *hangupWatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watched[int32(fd)] != h {
		return
	}
	delete(w.watched, int32(fd))
	_ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
}

func (w *epollWatcher) loop() {
	events := make([]syscall.EpollEvent, 64)
	for {
		n, err := syscall.EpollWait(w.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for i := range n {
			w.mu.Lock()
			h := w.watched[events[i].Fd]
			w.mu.Unlock()
			if h != nil {
				h.hungUp()
			}
		}
	}
}
