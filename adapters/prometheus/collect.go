package prometheus

import (
	"github.com/keyipsentinel/sentinel"
	prom "github.com/prometheus/client_golang/prometheus"
)

// The scrape-time collectors read a stats snapshot once per scrape and turn
// it into constant metrics: the counters stay plain atomics in the proxy and
// the recorder, and a scrape sees one consistent snapshot rather than one
// read per series.

var (
	proxyRequests = prom.NewDesc(Namespace+"_requests_total",
		"Requests through the proxy middleware, by outcome: allowed, refused, monitored (a would-be refusal let through), unkeyed (no key: forwarded unchecked), failsafe_closed (503), failsafe_open (forwarded unchecked) and abandoned (the client left before the decision).",
		[]string{"outcome"}, nil)
	proxyFailsafe = prom.NewDesc(Namespace+"_failsafe_answers_total",
		"Key-bearing requests answered by the failsafe mode because no store could decide, by mode.",
		[]string{"mode"}, nil)
	proxyForgotten = prom.NewDesc(Namespace+"_bindings_forgotten_total",
		"First-use bindings removed again because the downstream answered 401 (scanners' random keys).",
		nil, nil)
	proxyCleanupFailures = prom.NewDesc(Namespace+"_binding_cleanup_failures_total",
		"Removals of 401-answered first-use bindings that did not happen, by result: failed (the store refused) or dropped (the queue was full).",
		[]string{"result"}, nil)

	alertQueue = prom.NewDesc(Namespace+"_alert_webhook_queue_depth",
		"Alerts waiting to be delivered to the webhook.", nil, nil)
	alertOutcomes = prom.NewDesc(Namespace+"_alert_webhook_alerts_total",
		"Alerts that left the webhook queue, by result: delivered, failed (given up after their attempts, or refused for good) or dropped (pushed out of a full queue).",
		[]string{"result"}, nil)
	alertAttempts = prom.NewDesc(Namespace+"_alert_webhook_attempts_total",
		"Webhook delivery attempts, retries included.", nil, nil)

	cacheLookups = prom.NewDesc(Namespace+"_cache_lookups_total",
		"Binding cache lookups, by cache layer and result (hit: answered by the cache; miss: the authority was asked).",
		[]string{"layer", "result"}, nil)
	cacheInvalidations = prom.NewDesc(Namespace+"_cache_invalidations_total",
		"Cached bindings dropped because they changed elsewhere, by cache layer.", []string{"layer"}, nil)
	storeErrors = prom.NewDesc(Namespace+"_store_errors_total",
		"Failed store and cache calls, by store and operation: get (a cache read that fell through to the authority), set (a cache write-through kept for retry), find (a binding lookup in the authority), write (a binding write to the authority).",
		[]string{"store", "op"}, nil)

	loginFailuresHelp = "Failed admin logins."
	lockoutsHelp      = "Client addresses locked out of the admin login after repeated failures."
	loginFailures     = prom.NewDesc(Namespace+"_admin_login_failures_total", loginFailuresHelp, nil, nil)
	loginLockouts     = prom.NewDesc(Namespace+"_admin_login_lockouts_total", lockoutsHelp, nil, nil)

	recWritten = prom.NewDesc(Namespace+"_recorder_written_total",
		"Records written by the batch recorder, by kind (intercept: a refusal's audit record; use: a last-use time).",
		[]string{"kind"}, nil)
	recDropped = prom.NewDesc(Namespace+"_recorder_dropped_total",
		"Records the batch recorder dropped because its bounded queue was full, by kind.",
		[]string{"kind"}, nil)
	recPending = prom.NewDesc(Namespace+"_recorder_queue_depth",
		"Records waiting in the batch recorder's queue, by kind.",
		[]string{"kind"}, nil)
	recFailures = prom.NewDesc(Namespace+"_recorder_write_failures_total",
		"Failed batch writes; each is retried with backoff.",
		nil, nil)
)

type proxyCollector struct{ stats func() ProxyStats }

func (c proxyCollector) Describe(ch chan<- *prom.Desc) {
	ch <- proxyRequests
	ch <- proxyFailsafe
	ch <- proxyForgotten
	ch <- proxyCleanupFailures
}

func (c proxyCollector) Collect(ch chan<- prom.Metric) {
	s := c.stats()
	for _, v := range []struct {
		outcome string
		n       int64
	}{
		{"allowed", s.Allowed}, {"refused", s.Refused}, {"monitored", s.Monitored},
		{"unkeyed", s.Unkeyed}, {"failsafe_closed", s.FailedClosed}, {"failsafe_open", s.FailedOpen},
		{"abandoned", s.Abandoned},
	} {
		ch <- prom.MustNewConstMetric(proxyRequests, prom.CounterValue, float64(v.n), v.outcome)
	}
	ch <- prom.MustNewConstMetric(proxyFailsafe, prom.CounterValue, float64(s.FailedClosed), string(sentinel.FailsafeClosed))
	ch <- prom.MustNewConstMetric(proxyFailsafe, prom.CounterValue, float64(s.FailedOpen), string(sentinel.FailsafeOpen))
	ch <- prom.MustNewConstMetric(proxyForgotten, prom.CounterValue, float64(s.CleanupsDone))
	ch <- prom.MustNewConstMetric(proxyCleanupFailures, prom.CounterValue, float64(s.CleanupsFailed), "failed")
	ch <- prom.MustNewConstMetric(proxyCleanupFailures, prom.CounterValue, float64(s.CleanupsDropped), "dropped")
}

type recorderCollector struct{ stats func() sentinel.RecorderStats }

func (c recorderCollector) Describe(ch chan<- *prom.Desc) {
	ch <- recWritten
	ch <- recDropped
	ch <- recPending
	ch <- recFailures
}

func (c recorderCollector) Collect(ch chan<- prom.Metric) {
	s := c.stats()
	ch <- prom.MustNewConstMetric(recWritten, prom.CounterValue, float64(s.InterceptsWritten), "intercept")
	ch <- prom.MustNewConstMetric(recWritten, prom.CounterValue, float64(s.UsesWritten), "use")
	ch <- prom.MustNewConstMetric(recDropped, prom.CounterValue, float64(s.InterceptsDropped), "intercept")
	ch <- prom.MustNewConstMetric(recDropped, prom.CounterValue, float64(s.UsesDropped), "use")
	ch <- prom.MustNewConstMetric(recPending, prom.GaugeValue, float64(s.InterceptsPending), "intercept")
	ch <- prom.MustNewConstMetric(recPending, prom.GaugeValue, float64(s.UsesPending), "use")
	ch <- prom.MustNewConstMetric(recFailures, prom.CounterValue, float64(s.WriteFailures))
}

type alertCollector struct{ stats func() AlertStats }

func (c alertCollector) Describe(ch chan<- *prom.Desc) {
	ch <- alertQueue
	ch <- alertOutcomes
	ch <- alertAttempts
}

func (c alertCollector) Collect(ch chan<- prom.Metric) {
	s := c.stats()
	ch <- prom.MustNewConstMetric(alertQueue, prom.GaugeValue, float64(s.Queued))
	ch <- prom.MustNewConstMetric(alertOutcomes, prom.CounterValue, float64(s.Delivered), "delivered")
	ch <- prom.MustNewConstMetric(alertOutcomes, prom.CounterValue, float64(s.Failed), "failed")
	ch <- prom.MustNewConstMetric(alertOutcomes, prom.CounterValue, float64(s.Dropped), "dropped")
	ch <- prom.MustNewConstMetric(alertAttempts, prom.CounterValue, float64(s.Attempts))
}

type cacheCollector struct{ stats func() CacheStats }

func (c cacheCollector) Describe(ch chan<- *prom.Desc) {
	ch <- cacheLookups
	ch <- cacheInvalidations
	ch <- storeErrors
}

func (c cacheCollector) Collect(ch chan<- prom.Metric) {
	s := c.stats()
	layer, auth := orUnknown(s.Layer), orUnknown(s.Authority)
	ch <- prom.MustNewConstMetric(cacheLookups, prom.CounterValue, float64(s.Hits), layer, "hit")
	ch <- prom.MustNewConstMetric(cacheLookups, prom.CounterValue, float64(s.Misses), layer, "miss")
	ch <- prom.MustNewConstMetric(cacheInvalidations, prom.CounterValue, float64(s.Invalidations), layer)
	if layer != "local" { // the in-process cache has no calls to fail
		ch <- prom.MustNewConstMetric(storeErrors, prom.CounterValue, float64(s.CacheErrors), layer, "get")
		ch <- prom.MustNewConstMetric(storeErrors, prom.CounterValue, float64(s.CacheWriteErrors), layer, "set")
	}
	ch <- prom.MustNewConstMetric(storeErrors, prom.CounterValue, float64(s.AuthorityErrors), auth, "find")
	ch <- prom.MustNewConstMetric(storeErrors, prom.CounterValue, float64(s.AuthorityWriteErrors), auth, "write")
}

type loginCollector struct{ stats func() LoginStats }

func (c loginCollector) Describe(ch chan<- *prom.Desc) {
	ch <- loginFailures
	ch <- loginLockouts
}

func (c loginCollector) Collect(ch chan<- prom.Metric) {
	s := c.stats()
	ch <- prom.MustNewConstMetric(loginFailures, prom.CounterValue, float64(s.Failures))
	ch <- prom.MustNewConstMetric(loginLockouts, prom.CounterValue, float64(s.Lockouts))
}
