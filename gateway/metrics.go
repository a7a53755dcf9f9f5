package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics holds the gateway's own Prometheus series (the shard-facing ones are the cluster
// client's). Labels are bounded: route templates, methods, status codes; never SKUs or ids.
type metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	recovered       *prometheus.CounterVec
	replays         prometheus.Counter
	batchSize       *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_reservations_recovered_total", Help: "Reservation headers finished by the recovery/TTL worker, by outcome.",
		}, []string{"outcome"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_idempotent_replays_total", Help: "Requests answered from a stored Idempotency-Key response.",
		}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_reservation_batch_size", Help: "Requests applied per coalesced hot-SKU transaction, by kind (reserve, settle).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"kind"}),
	}
	m.registry.MustRegister(m.requests, m.requestDuration, m.recovered, m.replays, m.batchSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
