package forecast

import "math"

// MaxDemand is the largest daily demand accepted; larger values are rejected
// as invalid so that sums of squares over years stay finite.
const MaxDemand = 1e12

// Series is the daily demand history of one item, oldest day first. Day i of
// a forecast is the day after the last day of Demand.
type Series struct {
	// Demand holds the units demanded (sold while in stock) per day. NaN marks
	// a day without an observation; negative or infinite values are invalid.
	Demand []float64
	// InStock, when not nil, holds one flag per day of Demand. A false flag
	// marks a day on which the item had nothing available: its demand is
	// censored and treated as missing, whatever Demand says.
	InStock []bool
}

// validate checks the series' values and flags.
func (s Series) validate() error {
	if s.InStock != nil && len(s.InStock) != len(s.Demand) {
		return invalidf("series has %d days of demand but %d in-stock flags", len(s.Demand), len(s.InStock))
	}
	for i, v := range s.Demand {
		if math.IsNaN(v) {
			continue
		}
		if v < 0 || v > MaxDemand {
			return invalidf("demand on day %d is %v: must be between 0 and %g (NaN for missing)", i, v, float64(MaxDemand))
		}
	}
	return nil
}

// Observed returns the demand with censored days replaced by NaN: the form
// every model reads. It never returns s.Demand itself.
func (s Series) Observed() []float64 {
	y := make([]float64, len(s.Demand))
	for i, v := range s.Demand {
		if s.InStock != nil && !s.InStock[i] {
			v = math.NaN()
		}
		y[i] = v
	}
	return y
}

// trimLeading drops the days before the first positive observation (the item
// was not sold yet: M5 starts its scales there too). A history without any
// positive observation is returned whole.
func trimLeading(y []float64) []float64 {
	for i, v := range y {
		if v > 0 {
			return y[i:]
		}
	}
	return y
}

// observedStats returns the count, mean and population variance of the
// observed (non-NaN) values of y.
func observedStats(y []float64) (n int, mean, variance float64) {
	var sum float64
	for _, v := range y {
		if !math.IsNaN(v) {
			n++
			sum += v
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	mean = sum / float64(n)
	for _, v := range y {
		if !math.IsNaN(v) {
			d := v - mean
			variance += d * d
		}
	}
	return n, mean, variance / float64(n)
}
