package auth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// CacheMetrics are the Cache's series (registered with CacheOptions.Registerer). The reason label
// of Rejections has six values: missing, malformed, invalid, expired, revoked, unavailable.
type CacheMetrics struct {
	Version         prometheus.Gauge
	Active          prometheus.Gauge
	Stale           prometheus.Gauge
	LastRefresh     prometheus.Gauge
	RefreshFailures prometheus.Counter
	Rejections      *prometheus.CounterVec
}

func newCacheMetrics() CacheMetrics {
	return CacheMetrics{
		Version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardstock_auth_keys_version", Help: "Version of the API keys this gateway authenticates with.",
		}),
		Active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardstock_auth_keys_active", Help: "API keys neither revoked nor expired, as of the last load.",
		}),
		Stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardstock_auth_keys_stale", Help: "1 while the API keys cannot be refreshed from the metadata store (the keys loaded last are served).",
		}),
		LastRefresh: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shardstock_auth_keys_last_refresh_timestamp_seconds", Help: "When the API keys were last read from the metadata store.",
		}),
		RefreshFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_auth_keys_refresh_failures_total", Help: "API key refreshes that could not reach the metadata store.",
		}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_auth_rejections_total", Help: "Requests refused as unauthorized, by reason.",
		}, []string{"reason"}),
	}
}

func (m CacheMetrics) register(r prometheus.Registerer) {
	r.MustRegister(m.Version, m.Active, m.Stale, m.LastRefresh, m.RefreshFailures, m.Rejections)
}

// rejected counts an Authenticate failure by its cause.
func (m CacheMetrics) rejected(err error) {
	reason := "unavailable" // no keys loaded yet
	for _, r := range rejectionReasons {
		if errors.Is(err, r.cause) {
			reason = r.label
			break
		}
	}
	m.Rejections.WithLabelValues(reason).Inc()
}

var rejectionReasons = []struct {
	cause error
	label string
}{
	{ErrNoCredentials, "missing"}, {ErrMalformedHeader, "malformed"}, {ErrInvalidKey, "invalid"},
	{ErrExpiredKey, "expired"}, {ErrRevokedKey, "revoked"},
}
