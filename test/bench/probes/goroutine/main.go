// Command goroutine is a benchmark probe (docs/performance.md, round 12),
// the twin of ../eventloop: the same minimal proxy for GET /v1/models
// (minproxy's work per request) on Go's usual model, a goroutine per
// client connection on net.Conn and a mutex-guarded pool of downstream
// connections. Loopback only; not a proxy to run.
//
//	go build -o /tmp/bin/probe-goroutine ./test/bench/probes/goroutine
//	APP_PORT=18099 /tmp/bin/probe-goroutine   # upstream: ../shared/bench/upstream on 18080
package main

import (
	"flag"
	"log"
	"net"
	"strconv"
	"sync"

	"github.com/keyipsentinel/sentinel/test/bench/probes/minproxy"
)

type downstream struct {
	c   net.Conn
	buf []byte
}

type pool struct {
	addr string
	mu   sync.Mutex
	idle []*downstream
}

func (p *pool) get() *downstream {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		d := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return d
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		log.Fatal(err)
	}
	return &downstream{c: c, buf: make([]byte, 0, 4096)}
}

func (p *pool) put(d *downstream) {
	p.mu.Lock()
	p.idle = append(p.idle, d)
	p.mu.Unlock()
}

// readMore reads once into *buf, growing it when full.
func readMore(c net.Conn, buf *[]byte) error {
	b := *buf
	if len(b) == cap(b) {
		b = append(b, 0)[:len(b)]
	}
	n, err := c.Read(b[len(b):cap(b)])
	*buf = b[:len(b)+n]
	return err
}

// exchange sends out and returns the length of the answer at the start of
// d.buf.
func (d *downstream) exchange(out []byte) (int, error) {
	if _, err := d.c.Write(out); err != nil {
		return 0, err
	}
	for {
		n, ok := minproxy.AnswerEnd(d.buf)
		if !ok {
			log.Fatal("probe: an answer without Content-Length")
		}
		if n >= 0 {
			return n, nil
		}
		if err := readMore(d.c, &d.buf); err != nil {
			return 0, err
		}
	}
}

func serve(c net.Conn, check *minproxy.Checker, ds *pool) {
	defer c.Close()
	addr, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	buf := make([]byte, 0, 4096)
	var out []byte
	for {
		end := minproxy.HeadEnd(buf)
		for end < 0 {
			if err := readMore(c, &buf); err != nil {
				return
			}
			end = minproxy.HeadEnd(buf)
		}
		head := buf[:end]
		if !check.Allow(head, addr) {
			if _, err := c.Write(minproxy.Refused); err != nil {
				return
			}
			buf = buf[:copy(buf, buf[end:])]
			continue
		}
		out = minproxy.Outbound(out[:0], head, addr)
		buf = buf[:copy(buf, buf[end:])]
		d := ds.get()
		n, err := d.exchange(out)
		if err != nil {
			d.c.Close()
			return
		}
		_, err = c.Write(d.buf[:n])
		d.buf = d.buf[:copy(d.buf, d.buf[n:])]
		ds.put(d)
		if err != nil {
			return
		}
	}
}

func main() {
	port := flag.Int("port", minproxy.Port(18099), "port on 127.0.0.1 (default $APP_PORT)")
	up := flag.String("up", "127.0.0.1:18080", "downstream address")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		log.Fatal(err)
	}
	check := minproxy.NewChecker("0123456789abcdef0123456789abcdef")
	ds := &pool{addr: *up}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, check, ds)
	}
}
