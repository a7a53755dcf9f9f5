package backtest

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/shardstock/shardstock/forecast"
)

// Config says what to hold out and how to simulate stock.
type Config struct {
	// Horizon is the number of held-out days at the end of every series (M5: 28).
	Horizon int
	// LeadTime and Review (days) and ServiceLevel set both policies; their
	// protection interval is LeadTime + Review days.
	LeadTime, Review int
	ServiceLevel     float64
	// Window is passed to forecast.Options.
	Window int
	// Methods are evaluated in this order; nil means every single method
	// and Auto.
	Methods []forecast.Method
}

// DefaultConfig is M5's split with a 7-day lead time, daily review and a 95%
// service target.
func DefaultConfig() Config {
	return Config{Horizon: 28, LeadTime: 7, Review: 1, ServiceLevel: 0.95}
}

// methods returns the methods to evaluate.
func (c Config) methods() []forecast.Method {
	if c.Methods != nil {
		return c.Methods
	}
	return append(forecast.Methods(), forecast.Auto)
}

// ErrTooShort is returned for a series without enough history to hold out
// Horizon days and keep two weeks before them.
var ErrTooShort = errors.New("backtest: series too short")

// MethodResult is how one method did on one series.
type MethodResult struct {
	Method   forecast.Method
	Acc      forecast.Accuracy
	Sums     Sums
	Stock    SimResult
	Failures int // 1 when Fit failed (counted, not scored)
}

// Sums are additive figures pooled over series.
type Sums struct {
	Forecast, Actual float64 // summed over scored days, for relative bias
	Covered, Scored  int     // days with actual ≤ q95, days scored
	// SumCovered counts series whose demand over the first lead time +
	// review days was ≤ the quantile of the sum (the order-up-to level);
	// SumScored counts series with all those days observed.
	SumCovered, SumScored int
}

// SeriesResult is the evaluation of one series.
type SeriesResult struct {
	Methods []MethodResult
	Static  SimResult
}

// EvaluateSeries holds out the last cfg.Horizon days of s and evaluates every
// method on them.
func EvaluateSeries(s forecast.Series, cfg Config) (SeriesResult, error) {
	h := cfg.Horizon
	n := len(s.Demand)
	if h < 1 || n < h+14 {
		return SeriesResult{}, fmt.Errorf("%w: %d days, need %d", ErrTooShort, n, h+14)
	}
	train := forecast.Series{Demand: s.Demand[:n-h]}
	if s.InStock != nil {
		train.InStock = s.InStock[:n-h]
	}
	test := forecast.Series{Demand: s.Demand[n-h:]}
	if s.InStock != nil {
		test.InStock = s.InStock[n-h:]
	}
	trainObs, testObs := train.Observed(), test.Observed()
	protect := cfg.LeadTime + cfg.Review
	var res SeriesResult
	res.Static = staticPolicy(trainObs, testObs, cfg)
	for _, m := range cfg.methods() {
		opts := forecast.Options{Method: m, Horizon: max(h, protect), Window: cfg.Window}
		mr := MethodResult{Method: m}
		f, err := forecast.Fit(train, opts)
		if err != nil {
			mr.Failures = 1
			res.Methods = append(res.Methods, mr)
			continue
		}
		mr.Acc = forecast.Score(trainObs, testObs, f.Mean[:h])
		for d := range h {
			a := testObs[d]
			if math.IsNaN(a) {
				continue
			}
			q, _ := f.Quantile(d+1, 0.95)
			mr.Sums.Scored++
			if a <= q {
				mr.Sums.Covered++
			}
			mr.Sums.Forecast += f.Mean[d]
			mr.Sums.Actual += a
		}
		upTo, _ := f.LeadTimeQuantile(protect, cfg.ServiceLevel)
		if sum, ok := observedSum(testObs[:min(protect, h)]); ok && protect <= h {
			mr.Sums.SumScored++
			if sum <= upTo {
				mr.Sums.SumCovered++
			}
		}
		mr.Stock = SimulateBaseStock(testObs, upTo, cfg.LeadTime, trainObs)
		res.Methods = append(res.Methods, mr)
	}
	return res, nil
}

// staticPolicy simulates mean·P + z·σ·√P with the mean and standard deviation
// of the observed days of the training window.
func staticPolicy(train, test []float64, cfg Config) SimResult {
	w := cfg.Window
	if w <= 0 {
		w = forecast.DefaultWindow
	}
	recent := train[max(0, len(train)-w):]
	var sum, sq float64
	n := 0
	for _, v := range recent {
		if !math.IsNaN(v) {
			sum += v
			sq += v * v
			n++
		}
	}
	mean, sd := 0.0, 0.0
	if n > 0 {
		mean = sum / float64(n)
		sd = math.Sqrt(math.Max(sq/float64(n)-mean*mean, 0))
	}
	p := float64(cfg.LeadTime + cfg.Review)
	z := distuv.UnitNormal.Quantile(cfg.ServiceLevel)
	return SimulateBaseStock(test, mean*p+z*sd*math.Sqrt(p), cfg.LeadTime, train)
}

// observedSum sums xs; ok is false when a day is missing.
func observedSum(xs []float64) (float64, bool) {
	sum := 0.0
	for _, v := range xs {
		if math.IsNaN(v) {
			return 0, false
		}
		sum += v
	}
	return sum, true
}
