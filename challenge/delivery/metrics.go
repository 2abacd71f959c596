package delivery

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// statsTimeout bounds the store query behind a scrape, so a stuck database
// makes the outbox gauges go missing instead of hanging /metrics.
const statsTimeout = 5 * time.Second

// Metrics are the worker's counters; pass them to [NewWorker] with
// [WorkerMetrics]. A nil *Metrics counts nothing.
type Metrics struct {
	sent     prometheus.Counter
	failures *prometheus.CounterVec
}

// RegisterMetrics registers on reg the outbox gauges, read from store's
// Stats at scrape time so every instance reports the shared queue:
//
//   - authd_outbox_pending: messages waiting for delivery
//   - authd_outbox_abandoned: messages given up on (see `authd outbox list`)
//   - authd_outbox_oldest_pending_seconds: how long the oldest has waited
//
// and the counters of this instance's worker, which it returns:
//
//   - authd_outbox_sent_total: messages a provider accepted
//   - authd_outbox_failures_total{permanent}: failed attempts; "true" for
//     the ones abandoned at once (refused by the provider, unrenderable)
func RegisterMetrics(reg prometheus.Registerer, store Store) (*Metrics, error) {
	m := &Metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_outbox_sent_total",
			Help: "Outbox messages a provider accepted.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_outbox_failures_total",
			Help: "Failed outbox delivery attempts; permanent failures abandon the message at once.",
		}, []string{"permanent"}),
	}
	// Both label values exist from the start, so rate() works before the
	// first failure.
	m.failures.WithLabelValues("true")
	m.failures.WithLabelValues("false")
	for _, c := range []prometheus.Collector{newQueueCollector(store), m.sent, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("delivery: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) countSent() {
	if m != nil {
		m.sent.Inc()
	}
}

func (m *Metrics) countFailure(permanent bool) {
	if m != nil {
		m.failures.WithLabelValues(strconv.FormatBool(permanent)).Inc()
	}
}

// queueCollector reads one Stats per scrape for all three gauges, so they
// agree with each other and cost one query.
type queueCollector struct {
	store                      Store
	pending, abandoned, oldest *prometheus.Desc
}

func newQueueCollector(store Store) *queueCollector {
	return &queueCollector{
		store:     store,
		pending:   prometheus.NewDesc("authd_outbox_pending", "Outbox messages waiting for delivery.", nil, nil),
		abandoned: prometheus.NewDesc("authd_outbox_abandoned", "Outbox messages abandoned after a permanent failure or too many attempts.", nil, nil),
		oldest:    prometheus.NewDesc("authd_outbox_oldest_pending_seconds", "Age of the oldest outbox message waiting for delivery (0 when none).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.abandoned
	ch <- c.oldest
}

// Collect implements prometheus.Collector. When the store cannot answer it
// reports nothing: a missing series alerts as "absent", a made-up zero
// would look healthy.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := c.store.Stats(ctx, time.Now())
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(c.abandoned, prometheus.GaugeValue, float64(st.Abandoned))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestPendingAge.Seconds())
}
