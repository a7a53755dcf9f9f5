package saga

import "github.com/prometheus/client_golang/prometheus"

// metrics are the coordinator's series: headers finished by recovery, and coalesced batch sizes.
type metrics struct {
	recovered *prometheus.CounterVec
	batchSize *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_reservations_recovered_total", Help: "Reservation headers finished by the recovery/TTL worker, by outcome.",
		}, []string{"outcome"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardstock_reservation_batch_size", Help: "Requests applied per coalesced hot-SKU transaction, by kind (reserve, settle).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.recovered, m.batchSize)
	}
	return m
}
