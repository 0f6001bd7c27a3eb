//go:build linux

// Command eventloop is a benchmark probe (docs/performance.md, round 12): a
// proxy for GET /v1/models with an epoll event loop per core instead of a
// goroutine per connection (raw epoll_wait, non-blocking sockets,
// SO_REUSEPORT listeners, a keep-alive downstream pool per loop), doing
// minproxy's minimal work per request. Its twin, ../goroutine, does the
// same work on Go's usual model; the two together tell the engine's cost
// from the work's. Loopback only; not a proxy to run.
//
//	go build -o /tmp/bin/probe-eventloop ./test/bench/probes/eventloop
//	APP_PORT=18099 /tmp/bin/probe-eventloop   # upstream: ../shared/bench/upstream on 18080
package main

import (
	"flag"
	"log"
	"net/netip"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/keyipsentinel/sentinel/test/bench/probes/minproxy"
)

type conn struct {
	fd     int
	client bool
	addr   string
	buf    []byte
	out    []byte
	peer   *conn // the client and its downstream while a request is in flight
}

type loop struct {
	ep    int
	up    syscall.Sockaddr
	check *minproxy.Checker
	conns map[int]*conn
	pool  []*conn
}

// Reads and writes of non-blocking sockets never block: no scheduler
// hand-off (as Sentinel's rawio_linux.go).
func rawRead(fd int, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// writeAll writes p whole; a full socket (not met with these small
// answers) is waited for by spinning, which a probe may do.
func writeAll(fd int, p []byte) bool {
	for len(p) > 0 {
		n, e := rawWrite(fd, p)
		switch {
		case e == syscall.EAGAIN:
			runtime.Gosched()
		case e != 0:
			return false
		default:
			p = p[n:]
		}
	}
	return true
}

// fill reads what the socket holds into c.buf; false when it is closed.
func fill(c *conn) bool {
	for {
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, 0)[:len(c.buf)]
		}
		room := cap(c.buf) - len(c.buf)
		n, e := rawRead(c.fd, c.buf[len(c.buf):cap(c.buf)])
		if e == syscall.EAGAIN {
			return true
		}
		if e != 0 || n == 0 {
			return false
		}
		c.buf = c.buf[:len(c.buf)+n]
		if n < room {
			return true // drained: no read that finds it empty
		}
	}
}

func (l *loop) add(c *conn) {
	l.conns[c.fd] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		log.Fatal(err)
	}
}

func (l *loop) close(c *conn) {
	delete(l.conns, c.fd)
	syscall.Close(c.fd)
	if p := c.peer; p != nil {
		p.peer = nil
		if c.client {
			l.close(p) // a downstream connection with an answer due is not reused
		}
	}
}

// downstream returns an idle downstream connection, or a new one (a
// blocking connect: on loopback it does not wait).
func (l *loop) downstream() *conn {
	if n := len(l.pool); n > 0 {
		u := l.pool[n-1]
		l.pool = l.pool[:n-1]
		return u
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err == nil {
		err = syscall.Connect(fd, l.up)
	}
	if err != nil {
		log.Fatal(err)
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	syscall.SetNonblock(fd, true)
	u := &conn{fd: fd, buf: make([]byte, 0, 4096)}
	l.add(u)
	return u
}

func (l *loop) fromClient(c *conn) {
	if !fill(c) {
		l.close(c)
		return
	}
	if c.peer != nil {
		return
	}
	end := minproxy.HeadEnd(c.buf)
	if end < 0 {
		return
	}
	head := c.buf[:end]
	if !l.check.Allow(head, c.addr) {
		writeAll(c.fd, minproxy.Refused)
		c.buf = c.buf[:copy(c.buf, c.buf[end:])]
		return
	}
	c.out = minproxy.Outbound(c.out[:0], head, c.addr)
	c.buf = c.buf[:copy(c.buf, c.buf[end:])]
	u := l.downstream()
	c.peer, u.peer = u, c
	if !writeAll(u.fd, c.out) {
		l.close(c)
	}
}

func (l *loop) fromDownstream(u *conn) {
	if !fill(u) {
		l.close(u)
		return
	}
	n, ok := minproxy.AnswerEnd(u.buf)
	if !ok {
		log.Fatal("probe: an answer without Content-Length")
	}
	if n < 0 {
		return
	}
	c := u.peer
	u.peer = nil
	if c != nil {
		c.peer = nil
		if !writeAll(c.fd, u.buf[:n]) {
			l.close(c)
			c = nil
		}
	}
	u.buf = u.buf[:copy(u.buf, u.buf[n:])]
	l.pool = append(l.pool, u)
	if c != nil && len(c.buf) > 0 {
		l.fromClient(c) // the next request came with this one
	}
}

func (l *loop) run(lfd int) {
	runtime.LockOSThread()
	evs := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(l.ep, evs, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, ev := range evs[:n] {
			fd := int(ev.Fd)
			if fd == lfd {
				l.accept(lfd)
				continue
			}
			switch c := l.conns[fd]; {
			case c == nil:
			case c.client:
				l.fromClient(c)
			default:
				l.fromDownstream(c)
			}
		}
	}
}

func (l *loop) accept(lfd int) {
	for {
		fd, sa, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		addr := ""
		if in, ok := sa.(*syscall.SockaddrInet4); ok {
			addr = netip.AddrFrom4(in.Addr).String()
		}
		l.add(&conn{fd: fd, client: true, addr: addr, buf: make([]byte, 0, 4096)})
	}
}

func listen(port int) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err == nil {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		err = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
	}
	if err == nil {
		err = syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	}
	if err == nil {
		err = syscall.Listen(fd, 4096)
	}
	if err != nil {
		log.Fatal(err)
	}
	return fd
}

func main() {
	port := flag.Int("port", minproxy.Port(18099), "port on 127.0.0.1 (default $APP_PORT)")
	upPort := flag.Int("up", 18080, "downstream port on 127.0.0.1")
	loops := flag.Int("loops", runtime.NumCPU(), "event loops")
	flag.Parse()
	check := minproxy.NewChecker("0123456789abcdef0123456789abcdef")
	for range *loops {
		lfd := listen(*port)
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			log.Fatal(err)
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &ev); err != nil {
			log.Fatal(err)
		}
		l := &loop{ep: ep, up: &syscall.SockaddrInet4{Port: *upPort, Addr: [4]byte{127, 0, 0, 1}}, check: check, conns: map[int]*conn{}}
		go l.run(lfd)
	}
	select {}
}
