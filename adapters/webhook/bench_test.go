package webhook_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	sentinel "github.com/keyipsentinel/sentinel"
	"github.com/keyipsentinel/sentinel/adapters/memory"
	"github.com/keyipsentinel/sentinel/adapters/webhook"
)

type nopRecorder struct{}

func (nopRecorder) RecordIntercept(sentinel.Intercept) {}
func (nopRecorder) RecordUse(sentinel.Use)             {}

// BenchmarkRefusalLatency measures what a refused request costs through a
// real HTTP server whose handler records the refusal as the proxy does,
// without alerts and with alerts going to a receiver that never answers
// (every refusal of a new key crosses a threshold of 1, so the notifier's
// queue is full and dropping all along). Compare the p50/p99 metrics of
// the two: delivery must not show in request latency.
func BenchmarkRefusalLatency(b *testing.B) {
	hang := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	b.Cleanup(func() { close(hang); receiver.Close() })

	for _, withAlerts := range []bool{false, true} {
		name := "no_alerts"
		if withAlerts {
			name = "alerts_hanging_receiver"
		}
		b.Run(name, func(b *testing.B) {
			var rec sentinel.Recorder = nopRecorder{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if withAlerts {
				settings, err := sentinel.NewLiveSettings(sentinel.Settings{EnforceMode: sentinel.ModeEnforce,
					FailsafeMode: sentinel.FailsafeClosed, AlertThresholdCount: 1, AlertWindow: time.Hour,
					AlertWebhookURL: receiver.URL})
				if err != nil {
					b.Fatal(err)
				}
				n := webhook.New(webhook.Options{Settings: settings, AllowPrivate: true, QueueSize: 100, AttemptTimeout: time.Minute})
				s := sentinel.NewAlertService(memory.NewAlertCounter(), n, settings, sentinel.AlertServiceOptions{})
				go n.Run(ctx)
				go s.Run(ctx)
				rec = sentinel.AlertingRecorder{Recorder: rec, Alerts: s}
			}
			var seq atomic.Uint64
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var key sentinel.KeyHash
				binary.BigEndian.PutUint64(key[:], seq.Add(1))
				rec.RecordIntercept(sentinel.Intercept{Key: key, ClientIP: netip.MustParseAddr("198.51.100.1"),
					Reason: sentinel.ReasonIPNotAllowed, Enforced: true, At: time.Now()})
				w.WriteHeader(http.StatusForbidden)
			}))
			defer proxy.Close()
			client := proxy.Client()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := client.Get(proxy.URL)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
