package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the shard-facing series: operation latency and failures, moved-partition retries,
// the topology version, scatter-gather latency and failures, the connection pools, and the
// metadata-store calls (latency, failures, breaker). Labels
// are bounded: shard names, operation and report names.
type metrics struct {
	shardDuration       *prometheus.HistogramVec
	shardErrors         *prometheus.CounterVec
	movedRetries        prometheus.Counter
	topologyVersion     prometheus.Gauge
	reportDuration      *prometheus.HistogramVec
	reportShardDuration *prometheus.HistogramVec
	reportShardFailures *prometheus.CounterVec
	metaDuration        *prometheus.HistogramVec
	metaFailures        *prometheus.CounterVec
	metaBreakerOpen     prometheus.Gauge
}

var reportBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(reg prometheus.Registerer, pools func() map[string]poolStats) *metrics {
	m := &metrics{
		shardDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_shard_query_duration_seconds", Help: "Latency of shard operations by shard and operation.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"shard", "op"}),
		shardErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_shard_errors_total", Help: "Shard operations that failed with an infrastructure error.",
		}, []string{"shard", "op"}),
		movedRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_partition_moved_retries_total", Help: "Shard operations retried because the partition had moved.",
		}),
		topologyVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardstock_topology_version", Help: "Topology version this gateway routes by.",
		}),
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
		metaDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_meta_call_duration_seconds", Help: "Latency of metadata-store calls by operation.",
			Buckets: reportBuckets,
		}, []string{"op"}),
		metaFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_meta_failures_total", Help: "Metadata-store calls that failed as meta_unavailable (unreachable, timed out, or refused by the open breaker), by operation.",
		}, []string{"op"}),
		metaBreakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardstock_meta_breaker_open", Help: "1 while the metadata-store breaker is open (calls fail fast), else 0.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.shardDuration, m.shardErrors, m.movedRetries, m.topologyVersion,
			m.reportDuration, m.reportShardDuration, m.reportShardFailures, m.metaDuration, m.metaFailures, m.metaBreakerOpen,
			&poolCollector{pools: pools})
	}
	return m
}

// poolStats are one shard pool's database/sql figures.
type poolStats struct {
	open, inUse, idle int
	waitCount         int64
	waitSeconds       float64
}

// poolStats returns the pool figures of every shard of the current topology.
func (c *Client) poolStats() map[string]poolStats {
	out := map[string]poolStats{}
	snap := c.Current()
	if snap == nil {
		return out
	}
	for name, st := range snap.stores {
		ds := st.Stats()
		out[name] = poolStats{open: ds.OpenConnections, inUse: ds.InUse, idle: ds.Idle, waitCount: ds.WaitCount, waitSeconds: ds.WaitDuration.Seconds()}
	}
	return out
}

// poolCollector exports database/sql pool statistics per shard.
type poolCollector struct {
	pools func() map[string]poolStats
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
