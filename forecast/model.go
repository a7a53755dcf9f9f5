package forecast

import "math"

// period is the length of the weekly season in days.
const period = 7

// model is one forecasting method with its parameters.
type model interface {
	// fit estimates the parameters from y (NaN = missing observation).
	fit(y []float64)
	// run filters y from its first day with the fitted parameters and, for
	// every origin t in [from, len(y)], writes the forecasts of days
	// t, t+1, …, t+h-1 made after observing y[:t] into fc[(t-from)*h:].
	// len(fc) is at least (len(y)-from+1)*h; forecasts are ≥ 0.
	run(y []float64, from, h int, fc []float64)
}

// lastObserved returns the last non-NaN value of y, or 0.
func lastObserved(y []float64) float64 {
	for i := len(y) - 1; i >= 0; i-- {
		if !math.IsNaN(y[i]) {
			return y[i]
		}
	}
	return 0
}

// clampForecast makes a forecast finite and non-negative.
func clampForecast(v float64) float64 {
	if !(v > 0) { // also NaN
		return 0
	}
	if v > MaxDemand*10 {
		return MaxDemand * 10
	}
	return v
}

// naiveModel forecasts the last observed value.
type naiveModel struct{}

func (naiveModel) fit([]float64) {}

func (naiveModel) run(y []float64, from, h int, fc []float64) {
	last := 0.0
	for t := 0; t <= len(y); t++ {
		if t >= from {
			fill(fc[(t-from)*h:(t-from+1)*h], clampForecast(last))
		}
		if t < len(y) && !math.IsNaN(y[t]) {
			last = y[t]
		}
	}
}

// seasonalNaiveModel forecasts the last observed value of the same weekday.
type seasonalNaiveModel struct{}

func (seasonalNaiveModel) fit([]float64) {}

func (seasonalNaiveModel) run(y []float64, from, h int, fc []float64) {
	var last [period]float64
	var seen [period]bool
	latest := 0.0
	for t := 0; t <= len(y); t++ {
		if t >= from {
			out := fc[(t-from)*h : (t-from+1)*h]
			for k := range out {
				d := (t + k) % period
				v := latest
				if seen[d] {
					v = last[d]
				}
				out[k] = clampForecast(v)
			}
		}
		if t < len(y) && !math.IsNaN(y[t]) {
			last[t%period], seen[t%period], latest = y[t], true, y[t]
		}
	}
}

// maWindow is the number of observed days a moving average spans.
const maWindow = 28

// movingAverageModel forecasts the mean of the last maWindow observed days.
type movingAverageModel struct{}

func (movingAverageModel) fit([]float64) {}

func (movingAverageModel) run(y []float64, from, h int, fc []float64) {
	var ring [maWindow]float64
	n, next, sum := 0, 0, 0.0
	for t := 0; t <= len(y); t++ {
		if t >= from {
			mean := 0.0
			if n > 0 {
				mean = sum / float64(n)
			}
			fill(fc[(t-from)*h:(t-from+1)*h], clampForecast(mean))
		}
		if t == len(y) || math.IsNaN(y[t]) {
			continue
		}
		if n == maWindow {
			sum -= ring[next]
		} else {
			n++
		}
		ring[next] = y[t]
		sum += y[t]
		next = (next + 1) % maWindow
		if next == 0 { // re-add to keep rounding error from accumulating
			sum = 0
			for _, v := range ring[:n] {
				sum += v
			}
		}
	}
}

// fill sets every element of xs to v.
func fill(xs []float64, v float64) {
	for i := range xs {
		xs[i] = v
	}
}
