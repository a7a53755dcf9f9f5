package forecast

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Forecast is the result of Fit: the mean demand per day over the horizon and
// its distribution. Its methods are safe for concurrent use.
type Forecast struct {
	// Method is the method asked for (Auto or a single method).
	Method Method `json:"method"`
	// Members are the methods whose forecasts were averaged (one unless Auto
	// combined several); Models details each, e.g. "ETS(A,Ad,M)".
	Members []Method `json:"members"`
	Models  []string `json:"models"`
	// Reason says why these members were chosen.
	Reason string `json:"reason"`
	// Class is the demand pattern of the window.
	Class Class `json:"class"`
	// Backtest is the accuracy of the same choice on the last days of the
	// window, forecast from rolling origins by models fitted before them;
	// zero when the history was too short (BacktestOrigins 0).
	Backtest        Accuracy `json:"backtest"`
	BacktestOrigins int      `json:"backtest_origins"`
	// Mean is the expected demand of each day of the horizon; Mean[0] is the
	// day after the history.
	Mean []float64 `json:"mean"`
	// ResidualScale is a robust standard deviation of one-day-ahead errors
	// (1.4826 × MAD), for anomaly detection.
	ResidualScale float64 `json:"residual_scale"`
	// Days is the length of the window the models ran over.
	Days int `json:"days"`

	dist        *errDist // nil for a zero forecast
	fallbackVar float64  // daily variance for the normal fallback
}

// zero makes f the forecast of an item with no demand in its history.
func (f *Forecast) zero(h int) {
	f.Members, f.Models = []Method{Naive}, []string{"zero"}
	f.Reason = "no demand observed: zero forecast"
	f.Mean = make([]float64, h)
}

// Horizon is the number of days forecast.
func (f *Forecast) Horizon() int { return len(f.Mean) }

// checkP validates a probability.
func checkP(p float64) error {
	if !(p > 0 && p < 1) {
		return invalidf("probability %v outside (0, 1)", p)
	}
	return nil
}

// Quantile returns the p-quantile of demand on day (1 = the day after the
// history). It is ≥ 0 and non-decreasing in p.
func (f *Forecast) Quantile(day int, p float64) (float64, error) {
	if err := checkP(p); err != nil {
		return 0, err
	}
	if day < 1 || day > len(f.Mean) {
		return 0, invalidf("day %d outside the horizon 1..%d", day, len(f.Mean))
	}
	mean := f.Mean[day-1]
	e, ok := f.dist.dayQuantile(day-1, p)
	if ok {
		e *= f.dist.unit(mean)
	} else {
		e = f.normalError(1, p)
	}
	return math.Max(mean+e, 0), nil
}

// Quantiles returns, for every day of the horizon, the quantiles of demand
// at each probability of ps (out[day-1][i] for ps[i]): the same values as
// Quantile, computed faster for a whole table.
func (f *Forecast) Quantiles(ps ...float64) ([][]float64, error) {
	out := make([][]float64, len(f.Mean))
	for d := range out {
		out[d] = make([]float64, len(ps))
	}
	for i, p := range ps {
		if err := checkP(p); err != nil {
			return nil, err
		}
		var qs []float64
		if f.dist != nil {
			qs = f.dist.dayQuantiles(p)
		}
		for d, mean := range f.Mean {
			e := math.NaN()
			if qs != nil {
				e = qs[d]
			}
			if math.IsNaN(e) {
				e = f.normalError(1, p)
			} else {
				e *= f.dist.unit(mean)
			}
			out[d][i] = math.Max(mean+e, 0)
		}
	}
	return out, nil
}

// LeadTimeMean returns the expected demand summed over days 1..days.
func (f *Forecast) LeadTimeMean(days int) (float64, error) {
	if days < 0 || days > len(f.Mean) {
		return 0, invalidf("lead time %d outside the horizon 0..%d", days, len(f.Mean))
	}
	sum := 0.0
	for _, v := range f.Mean[:days] {
		sum += v
	}
	return sum, nil
}

// LeadTimeQuantile returns the p-quantile of demand summed over days
// 1..days, from the errors of past forecasts summed over the same number of
// days (so correlated errors widen it). It is ≥ 0, non-decreasing in p and
// in days; 0 for days = 0.
func (f *Forecast) LeadTimeQuantile(days int, p float64) (float64, error) {
	if err := checkP(p); err != nil {
		return 0, err
	}
	if _, err := f.LeadTimeMean(days); err != nil {
		return 0, err
	}
	best, mean := 0.0, 0.0
	for k := range days {
		mean += f.Mean[k]
		e, ok := f.dist.sumQuantile(k, p)
		if ok {
			e *= f.dist.unit(mean)
		} else {
			e = f.normalError(k+1, p)
		}
		best = math.Max(best, mean+e)
	}
	return best, nil
}

// normalError is the p-quantile of a normal error of a sum over days with
// the fallback daily variance (no correlation assumed).
func (f *Forecast) normalError(days int, p float64) float64 {
	sd := math.Sqrt(f.fallbackVar * float64(days))
	if !(sd > 0) {
		return 0
	}
	return distuv.Normal{Mu: 0, Sigma: sd}.Quantile(p)
}

// MeanDaily is the mean forecast per day over the horizon.
func (f *Forecast) MeanDaily() float64 {
	if len(f.Mean) == 0 {
		return 0
	}
	sum, _ := f.LeadTimeMean(len(f.Mean))
	return sum / float64(len(f.Mean))
}

// DaysOfCover is how many days available units last at the mean forecast
// rate; ok is false when no demand is expected (cover is unbounded).
func (f *Forecast) DaysOfCover(available float64) (days float64, ok bool) {
	rate := f.MeanDaily()
	if !(rate > 0) {
		return 0, false
	}
	return math.Max(available, 0) / rate, true
}
