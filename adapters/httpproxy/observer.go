package httpproxy

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
)

// Observer is told what the Middleware does, for metrics (a Prometheus
// adapter) and the dashboard's daily tally (sentinel.Tally): the app
// builds one with Observers from as many as it needs. Its methods are
// called on the request path: they must be quick, must not block and
// should not allocate. Embed NopObserver to implement only some.
type Observer interface {
	// Decided follows every call of the Decider: its decision or error,
	// and how long it took.
	Decided(d sentinel.Decision, err error, took time.Duration)
	// Allowed follows a key-bearing request let through with no refusal
	// reason (unbound keys on keyless routes included).
	Allowed()
	// Monitored follows a request the rules refuse, let through because
	// the enforcement mode is monitor.
	Monitored(reason sentinel.Reason)
	// Refused follows a request Sentinel answered itself instead of the
	// gateway: a refusal reason, or one of the Code* values as a Reason
	// (CodeUnavailable for the closed failsafe, CodeBusy under load).
	Refused(reason sentinel.Reason)
	// BindingCreated follows a decision that made a first-use binding.
	BindingCreated()
	// Proxied follows a request passed to the gateway once its answer has
	// been written: the status (0 when none was written) and the time
	// from the request's arrival.
	Proxied(status int, took time.Duration)
	// FirstByte is the time from the request's arrival to the first byte
	// (status line) of the gateway's answer.
	FirstByte(took time.Duration)
	// StreamOpened and StreamClosed bracket an event stream
	// (text/event-stream) answer.
	StreamOpened()
	StreamClosed()
	// WebSocketOpened and WebSocketClosed bracket a verified WebSocket
	// tunnel.
	WebSocketOpened()
	WebSocketClosed()
	// FailsafeChanged follows a change of the failsafe state: entered is
	// true when the stores became unavailable; answered is how many
	// requests the failsafe mode answered in the episode that ended (0 on
	// entry).
	FailsafeChanged(mode sentinel.FailsafeMode, entered bool, answered int64)
}

// NopObserver does nothing; embed it to implement part of Observer.
type NopObserver struct{}

var _ Observer = NopObserver{}

func (NopObserver) Decided(sentinel.Decision, error, time.Duration)    {}
func (NopObserver) Allowed()                                           {}
func (NopObserver) Monitored(sentinel.Reason)                          {}
func (NopObserver) Refused(sentinel.Reason)                            {}
func (NopObserver) BindingCreated()                                    {}
func (NopObserver) Proxied(int, time.Duration)                         {}
func (NopObserver) FirstByte(time.Duration)                            {}
func (NopObserver) StreamOpened()                                      {}
func (NopObserver) StreamClosed()                                      {}
func (NopObserver) WebSocketOpened()                                   {}
func (NopObserver) WebSocketClosed()                                   {}
func (NopObserver) FailsafeChanged(sentinel.FailsafeMode, bool, int64) {}

// Observers fans every call out to each of its Observers, in order.
type Observers []Observer

var _ Observer = Observers(nil)

// Decided implements Observer.
func (o Observers) Decided(d sentinel.Decision, err error, took time.Duration) {
	for _, x := range o {
		x.Decided(d, err, took)
	}
}

// Allowed implements Observer.
func (o Observers) Allowed() {
	for _, x := range o {
		x.Allowed()
	}
}

// Monitored implements Observer.
func (o Observers) Monitored(r sentinel.Reason) {
	for _, x := range o {
		x.Monitored(r)
	}
}

// Refused implements Observer.
func (o Observers) Refused(r sentinel.Reason) {
	for _, x := range o {
		x.Refused(r)
	}
}

// BindingCreated implements Observer.
func (o Observers) BindingCreated() {
	for _, x := range o {
		x.BindingCreated()
	}
}

// Proxied implements Observer.
func (o Observers) Proxied(status int, took time.Duration) {
	for _, x := range o {
		x.Proxied(status, took)
	}
}

// FirstByte implements Observer.
func (o Observers) FirstByte(took time.Duration) {
	for _, x := range o {
		x.FirstByte(took)
	}
}

// StreamOpened implements Observer.
func (o Observers) StreamOpened() {
	for _, x := range o {
		x.StreamOpened()
	}
}

// StreamClosed implements Observer.
func (o Observers) StreamClosed() {
	for _, x := range o {
		x.StreamClosed()
	}
}

// WebSocketOpened implements Observer.
func (o Observers) WebSocketOpened() {
	for _, x := range o {
		x.WebSocketOpened()
	}
}

// WebSocketClosed implements Observer.
func (o Observers) WebSocketClosed() {
	for _, x := range o {
		x.WebSocketClosed()
	}
}

// FailsafeChanged implements Observer.
func (o Observers) FailsafeChanged(mode sentinel.FailsafeMode, entered bool, answered int64) {
	for _, x := range o {
		x.FailsafeChanged(mode, entered, answered)
	}
}

// observedWriter tells the Observer about the gateway's answer as it is
// written. Pooled, so observing costs no allocation per request.
type observedWriter struct {
	http.ResponseWriter
	obs       Observer
	start     time.Time
	status    int
	stream    bool
	websocket bool
}

var observedWriters = sync.Pool{New: func() any { return new(observedWriter) }}

func (o *observedWriter) WriteHeader(code int) {
	if o.status == 0 && code >= 200 {
		o.status = code
		o.obs.FirstByte(time.Since(o.start))
		if strings.HasPrefix(contentType(o.ResponseWriter), "text/event-stream") {
			o.stream = true
			o.obs.StreamOpened()
		}
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *observedWriter) Write(b []byte) (int, error) {
	if o.status == 0 {
		o.WriteHeader(http.StatusOK)
	}
	return o.ResponseWriter.Write(b)
}

// Hijack is called (through http.ResponseController) only once the
// gateway's 101 has been verified: the tunnel opens here.
func (o *observedWriter) Hijack() (c net.Conn, rw *bufio.ReadWriter, err error) {
	c, rw, err = http.NewResponseController(o.ResponseWriter).Hijack()
	if err == nil && !o.websocket {
		o.websocket, o.status = true, http.StatusSwitchingProtocols
		o.obs.FirstByte(time.Since(o.start))
		o.obs.WebSocketOpened()
	}
	return c, rw, err
}

func (o *observedWriter) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// done reports the end of the answer and returns o to the pool.
func (o *observedWriter) done() {
	if o.stream {
		o.obs.StreamClosed()
	}
	if o.websocket {
		o.obs.WebSocketClosed()
	}
	o.obs.Proxied(o.status, time.Since(o.start))
	*o = observedWriter{}
	observedWriters.Put(o)
}

// TallyObserver feeds the dashboard's daily tally (sentinel.Tally) from
// the Middleware: allowed requests, refusals by the rules (would-be ones in
// monitor mode included; Sentinel's own 5xx answers are not refusals) and
// new bindings.
type TallyObserver struct {
	NopObserver
	Tally *sentinel.Tally
}

var _ Observer = TallyObserver{}

// Allowed implements Observer.
func (t TallyObserver) Allowed() { t.Tally.Allowed() }

// Monitored implements Observer.
func (t TallyObserver) Monitored(sentinel.Reason) { t.Tally.Refused() }

// Refused implements Observer.
func (t TallyObserver) Refused(r sentinel.Reason) {
	switch r {
	case CodeBusy, CodeUnavailable, CodeInternal:
		return
	}
	t.Tally.Refused()
}

// BindingCreated implements Observer.
func (t TallyObserver) BindingCreated() { t.Tally.NewBinding() }
