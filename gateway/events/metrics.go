package events

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count deliveries per sink kind (webhook, nats) and outcome.
type metrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shardstock_event_deliveries_total",
			Help: "Event deliveries by sink kind and outcome."}, []string{"sink", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shardstock_event_delivery_seconds",
			Help: "Duration of one event delivery attempt.", Buckets: prometheus.DefBuckets}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.duration)
	}
	return m
}

// observe records one delivery attempt to sk.
func (m *metrics) observe(sk sink, err error, d time.Duration) {
	kind, _, _ := strings.Cut(sk.name(), ":")
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.deliveries.WithLabelValues(kind, outcome).Inc()
	m.duration.WithLabelValues(kind).Observe(d.Seconds())
}
