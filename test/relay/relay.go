// Package relay is a TCP relay for fault tests: put it between a client and
// a store, then cut the link (every connection dropped, new ones refused)
// and restore it, as a network failure or a restarting server would, or
// freeze it (connections stay open, nothing moves), as a stalled server or
// a dropping firewall would.
package relay

import (
	"net"
	"sync"
	"testing"
)

// Relay forwards connections on a loopback address to a target.
type Relay struct {
	t      testing.TB
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	frozen chan struct{} // closed when not frozen
	wg     sync.WaitGroup
}

// Start listens on a free loopback port and relays to target until the
// test ends.
func Start(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("relay: listen: %v", err)
	}
	r := &Relay{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}, frozen: make(chan struct{})}
	close(r.frozen)
	r.serve(ln)
	t.Cleanup(func() { r.Thaw(); r.Cut(); r.wg.Wait() })
	return r
}

// Addr returns the relay's address, to give to the client instead of the
// target's.
func (r *Relay) Addr() string { return r.addr }

func (r *Relay) serve(ln net.Listener) {
	r.ln = ln
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() { defer r.wg.Done(); r.pipe(c) }()
		}
	}()
}

func (r *Relay) pipe(client net.Conn) {
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		client.Close()
		return
	}
	r.mu.Lock()
	if r.ln == nil { // cut while dialing
		r.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	r.conns[client], r.conns[server] = struct{}{}, struct{}{}
	r.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { r.copy(server, client); done <- struct{}{} }()
	go func() { r.copy(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
	r.mu.Lock()
	delete(r.conns, client)
	delete(r.conns, server)
	r.mu.Unlock()
}

// copy moves bytes from src to dst, holding each chunk while frozen.
func (r *Relay) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			gate := r.frozen
			r.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze holds every byte in flight, on open and new connections, until
// Thaw: the peer sees a server that stopped answering.
func (r *Relay) Freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.frozen:
		r.frozen = make(chan struct{})
	default: // already frozen
	}
}

// Thaw lets the held bytes through.
func (r *Relay) Thaw() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.frozen:
	default:
		close(r.frozen)
	}
}

// Cut drops every relayed connection and refuses new ones until Restore.
func (r *Relay) Cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
}

// Restore accepts connections again on the same address.
func (r *Relay) Restore() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("relay: listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}
