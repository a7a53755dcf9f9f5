package anomaly

import (
	"fmt"
	"testing"

	"github.com/shardstock/shardstock/forecast"
)

// BenchmarkDetect measures one SKU's Detect on 730 days of smooth demand with
// losses and cancellations, judging the last 7, 28 or 364 days (1, 4 or 52
// fits of the expected demand), against the baseline of one forecast.Fit of
// the same history measured in the same run:
//
//	go test ./forecast/anomaly -run '^$' -bench 'BenchmarkDetect$' -cpu 1
func BenchmarkDetect(b *testing.B) {
	base := append(smooth(12, 30), smooth(13, 30)[:250]...)
	s := Series{Sales: base, Loss: filled(len(base), 0), Cancelled: filled(len(base), 1)}
	b.Run("baseline_one_fit", func(b *testing.B) {
		for range b.N {
			if _, err := forecast.Fit(forecast.Series{Demand: base[:len(base)-7]}, forecast.Options{Horizon: DefaultBlock + 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, judged := range []int{7, 28, 364} {
		b.Run(fmt.Sprintf("last_%d_days", judged), func(b *testing.B) {
			opts := Options{From: len(base) - judged}
			for range b.N {
				if _, err := Detect(s, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("shrinkage_only_364_days", func(b *testing.B) {
		opts := Options{From: len(base) - 364, Kinds: []Kind{Shrinkage}}
		for range b.N {
			if _, err := Detect(s, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
