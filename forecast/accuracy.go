package forecast

import "math"

// Accuracy is the error of point forecasts on held-out days, in M5's scaled
// terms.
type Accuracy struct {
	// MASE is the mean absolute error divided by the in-sample mean absolute
	// one-step naive difference.
	MASE float64 `json:"mase"`
	// RMSSE is the root of the mean squared error divided by the in-sample
	// mean squared one-step naive difference.
	RMSSE float64 `json:"rmsse"`
	// Bias is the mean of forecast minus actual, in units per day.
	Bias float64 `json:"bias"`
	// Days is the number of held-out observations scored.
	Days int `json:"days"`
}

// Scale returns M5's denominators for a training history y: the mean absolute
// and the mean squared difference between consecutive observed days, counted
// from the first positive observation (before it the item was not on sale).
// Pairs with a missing day are skipped. Both are 0 when fewer than two days
// qualify.
func Scale(y []float64) (mae, mse float64) {
	y = trimLeading(y)
	n := 0
	for i := 1; i < len(y); i++ {
		a, b := y[i-1], y[i]
		if math.IsNaN(a) || math.IsNaN(b) {
			continue
		}
		d := b - a
		mae += math.Abs(d)
		mse += d * d
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return mae / float64(n), mse / float64(n)
}

// errorSums accumulates forecast errors.
type errorSums struct {
	abs, sq, bias float64
	n             int
}

// add records one forecast f of an actual a, skipping missing actuals.
func (s *errorSums) add(a, f float64) {
	if math.IsNaN(a) {
		return
	}
	e := f - a
	s.abs += math.Abs(e)
	s.sq += e * e
	s.bias += e
	s.n++
}

// accuracy scales the sums by M5's denominators; a zero denominator (a
// constant history) counts as 1 so the figure stays finite.
func (s errorSums) accuracy(scaleMAE, scaleMSE float64) Accuracy {
	if s.n == 0 {
		return Accuracy{}
	}
	if !(scaleMAE > 0) {
		scaleMAE = 1
	}
	if !(scaleMSE > 0) {
		scaleMSE = 1
	}
	n := float64(s.n)
	return Accuracy{
		MASE:  s.abs / n / scaleMAE,
		RMSSE: math.Sqrt(s.sq / n / scaleMSE),
		Bias:  s.bias / n,
		Days:  s.n,
	}
}

// Score returns the accuracy of forecasts pred of the days actual (NaN or a
// censored day = not scored) after the training history train.
func Score(train, actual, pred []float64) Accuracy {
	var s errorSums
	for i := range min(len(actual), len(pred)) {
		s.add(actual[i], pred[i])
	}
	mae, mse := Scale(train)
	return s.accuracy(mae, mse)
}
