package anomaly

import (
	"errors"
	"math"

	"github.com/shardstock/shardstock/forecast"
)

// dispersionBand is the half-width of the band of horizons whose errors
// estimate one day's dispersion.
const dispersionBand = 3

// minActiveDays is the fewest days since an item's first sale before its
// days are judged: no rate is known before.
const minActiveDays = forecast.MinWindow

// minDispersionErrors is the fewest errors a dispersion is estimated from;
// with fewer the variance-to-mean ratio of the history stands in.
const minDispersionErrors = 20

// expect fits hist, the cleaned history before day b, and sets the expected
// sales and dispersion of days b..e (e only as the neighbour of day e−1).
// Days stay unjudged when the item has not sold yet or has sold for fewer
// than minActiveDays.
func (d *detector) expect(b, e int, hist []float64) error {
	opts := d.st.fc
	h := e - b
	if e < d.n {
		h++
	}
	opts.Horizon = h
	f, err := forecast.Fit(forecast.Series{Demand: hist}, opts)
	if errors.Is(err, forecast.ErrNoData) {
		return nil
	}
	if err != nil {
		return err
	}
	if f.Days < minActiveDays || f.MeanDaily() == 0 {
		return nil
	}
	fallback := historyDispersion(hist[max(0, b-f.Days):b])
	for k := range h {
		d.mu[b+k] = f.Mean[k]
		d.phi[b+k] = dispersion(f, k+1, h, fallback)
	}
	return nil
}

// dispersion is the variance-to-mean ratio of demand around the forecast day
// days ahead: the mean square of the model's own scaled errors at the
// horizons within dispersionBand of day (1 at least).
func dispersion(f *forecast.Forecast, day, h int, fallback float64) float64 {
	var sum float64
	var n int
	for j := max(1, day-dispersionBand); j <= min(h, day+dispersionBand); j++ {
		for _, e := range f.ScaledErrors(j) {
			sum += e * e
			n++
		}
	}
	if n < minDispersionErrors {
		return fallback
	}
	return math.Max(1, sum/float64(n))
}

// historyDispersion is the variance-to-mean ratio of the observed days of y
// (1 at least): seasonality counts as noise, so it errs on the wide side.
func historyDispersion(y []float64) float64 {
	var n, sum, sq float64
	for _, v := range y {
		if !math.IsNaN(v) {
			n++
			sum += v
			sq += v * v
		}
	}
	if n < 2 || sum == 0 {
		return 1
	}
	mean := sum / n
	return math.Max(1, (sq/n-mean*mean)/mean)
}
