package gateway

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics holds every Prometheus series the gateway exports. Labels are bounded: route
// templates, methods, status codes, shard names; never SKUs or ids.
type metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	shardDuration   *prometheus.HistogramVec
	shardErrors     *prometheus.CounterVec
	topologyVersion prometheus.Gauge
	recovered       *prometheus.CounterVec
	replays         prometheus.Counter
	movedRetries    prometheus.Counter
	batchSize       *prometheus.HistogramVec
	// Scatter-gather reports: latency per report and per report and shard, shard failures
	// (errors and timeouts) per report and shard.
	reportDuration      *prometheus.HistogramVec
	reportShardDuration *prometheus.HistogramVec
	reportShardFailures *prometheus.CounterVec
}

func newMetrics(pools func() map[string]poolStats) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_http_request_duration_seconds", Help: "HTTP request latency by route, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		shardDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_shard_query_duration_seconds", Help: "Latency of shard operations by shard and operation.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"shard", "op"}),
		shardErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_shard_errors_total", Help: "Shard operations that failed with an infrastructure error.",
		}, []string{"shard", "op"}),
		topologyVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardstock_topology_version", Help: "Topology version this gateway routes by.",
		}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_reservations_recovered_total", Help: "Reservation headers finished by the recovery/TTL worker, by outcome.",
		}, []string{"outcome"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_idempotent_replays_total", Help: "Requests answered from a stored Idempotency-Key response.",
		}),
		movedRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_partition_moved_retries_total", Help: "Shard operations retried because the partition had moved.",
		}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_reservation_batch_size", Help: "Requests applied per coalesced hot-SKU transaction, by kind (reserve, settle).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"kind"}),
		reportDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_report_duration_seconds", Help: "Latency of scatter-gather reports (merge included) by report.",
			Buckets: reportBuckets,
		}, []string{"report"}),
		reportShardDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_report_shard_duration_seconds", Help: "Latency of each shard's part of a report by report and shard.",
			Buckets: reportBuckets,
		}, []string{"report", "shard"}),
		reportShardFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_report_shard_failures_total", Help: "Shards that failed or timed out in a report, by report and shard.",
		}, []string{"report", "shard"}),
	}
	m.registry.MustRegister(m.reportDuration, m.reportShardDuration, m.reportShardFailures)
	m.registry.MustRegister(m.requests, m.requestDuration, m.shardDuration, m.shardErrors, m.topologyVersion,
		m.recovered, m.replays, m.movedRetries, m.batchSize, &poolCollector{pools: pools},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var reportBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

type poolStats struct {
	open, inUse, idle int
	waitCount         int64
	waitSeconds       float64
}

// poolCollector exports database/sql pool statistics per shard.
type poolCollector struct {
	pools func() map[string]poolStats
	once  sync.Once
}

var (
	poolOpenDesc  = prometheus.NewDesc("shardstock_shard_pool_open_connections", "Open connections per shard pool.", []string{"shard"}, nil)
	poolInUseDesc = prometheus.NewDesc("shardstock_shard_pool_in_use_connections", "Connections in use per shard pool.", []string{"shard"}, nil)
	poolIdleDesc  = prometheus.NewDesc("shardstock_shard_pool_idle_connections", "Idle connections per shard pool.", []string{"shard"}, nil)
	poolWaitDesc  = prometheus.NewDesc("shardstock_shard_pool_wait_total", "Connections waited for per shard pool.", []string{"shard"}, nil)
	poolWaitSDesc = prometheus.NewDesc("shardstock_shard_pool_wait_seconds_total", "Time spent waiting for a connection per shard pool.", []string{"shard"}, nil)
)

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpenDesc, poolInUseDesc, poolIdleDesc, poolWaitDesc, poolWaitSDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.pools() {
		ch <- prometheus.MustNewConstMetric(poolOpenDesc, prometheus.GaugeValue, float64(s.open), name)
		ch <- prometheus.MustNewConstMetric(poolInUseDesc, prometheus.GaugeValue, float64(s.inUse), name)
		ch <- prometheus.MustNewConstMetric(poolIdleDesc, prometheus.GaugeValue, float64(s.idle), name)
		ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, float64(s.waitCount), name)
		ch <- prometheus.MustNewConstMetric(poolWaitSDesc, prometheus.CounterValue, s.waitSeconds, name)
	}
}
