package forecast_test

import (
	"testing"

	"github.com/shardstock/shardstock/forecast"
	"github.com/shardstock/shardstock/forecast/synth"
)

// BenchmarkFit fits Auto and reads the per-day quantiles on generated 2,000-day series of every kind; the
// per-series time bounds `forecast run` (about 4 ms per series keeps 30,000
// series under a minute on two cores).
func BenchmarkFit(b *testing.B) {
	series := make([]forecast.Series, 16)
	for i := range series {
		s := synth.Generate(1, i, 2000, 0)
		series[i] = forecast.Series{Demand: s.Demand, InStock: s.InStock}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := forecast.Fit(series[i%len(series)], forecast.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Quantiles(0.5, 0.9, 0.95, 0.99); err != nil { // what `forecast run` writes
			b.Fatal(err)
		}
	}
}
