package forecast

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Fit forecasts s with opts. It returns an error wrapping ErrInvalid for an
// invalid series or option and ErrNoData when no day is observed.
func Fit(s Series, opts Options) (*Forecast, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	hist := trimLeading(s.Observed())
	nobs, mean, variance := observedStats(hist)
	if nobs == 0 {
		return nil, ErrNoData
	}
	off := max(0, len(hist)-opts.Window)
	y := hist[off:]
	f := &Forecast{Method: opts.Method, Class: Classify(y), Days: len(y)}
	_, wmean, wvar := observedStats(y)
	if wmean == 0 && mean == 0 {
		f.zero(opts.Horizon)
		return f, nil
	}
	f.fallbackVar = max(wvar, wmean, variance) // at least Poisson
	methods := []Method{opts.Method}
	if opts.Method == Auto {
		methods = autoMethods(off, positive(y))
	}
	h := opts.Horizon
	hv := min(h, validationHorizon)
	cut := len(y) - 2*hv
	if cut < minFit {
		cut = len(y) // too short to validate: fit on everything
	}
	cands := fitCandidates(methods, y[:cut], hist, off, h)
	from := min(cut, max(0, len(y)-errorOrigins))
	for _, c := range cands {
		c.trace = make([]float64, (len(y)-from+1)*h)
		c.model.run(y, from, h, c.trace)
	}
	scaleMAE, scaleMSE := Scale(y[:cut])
	var score func(trace []float64) Accuracy
	if cut < len(y) {
		score = func(trace []float64) Accuracy {
			return validate(y, trace, from, cut, h, hv).accuracy(scaleMAE, scaleMSE)
		}
		for _, c := range cands {
			c.acc = score(c.trace)
			c.score = c.acc.MASE + c.acc.RMSSE
		}
	}
	chosen := f.choose(cands, score)
	f.Mean = make([]float64, h)
	copy(f.Mean, chosen.trace[(len(y)-from)*h:])
	if score != nil {
		f.Backtest = score(chosen.trace)
		f.BacktestOrigins = len(y) - hv - cut + 1
	}
	f.dist = newErrDist(y, chosen.trace, max(from, min(warmup, len(y)-1)), from, h, scaleFloor*wmean)
	f.ResidualScale = f.dist.scale
	return f, nil
}

// validate sums the errors of the forecasts in trace over the validation
// origins [cut, len(y)-hv], horizons 1..hv.
func validate(y, trace []float64, from, cut, h, hv int) errorSums {
	var s errorSums
	for t := cut; t+hv <= len(y); t++ {
		fc := trace[(t-from)*h:]
		for k := range hv {
			s.add(y[t+k], fc[k])
		}
	}
	return s
}

// choose picks the candidate whose trace becomes the forecast, and records
// the choice and the reason on f. With validation (score not nil), Auto
// averages the best 1..combineTop candidates, as many as validate best;
// without it (short history), Auto follows the demand class.
func (f *Forecast) choose(cands []*candidate, score func([]float64) Accuracy) *candidate {
	if f.Method != Auto {
		c := cands[0]
		f.Members, f.Models = []Method{c.method}, []string{c.label}
		f.Reason = "method " + string(c.method) + " requested"
		return c
	}
	if score == nil {
		want := ETS
		if f.Class.Intermittent() {
			want = SBA
		}
		for _, c := range cands {
			if c.method == want {
				f.Members, f.Models = []Method{c.method}, []string{c.label}
				f.Reason = fmt.Sprintf("history too short to validate; %s → %s", f.Class, want)
				return c
			}
		}
	}
	ranked := rankCandidates(cands)
	var best *candidate
	k := 0
	for n := 1; n <= min(combineTop, len(ranked)); n++ {
		comb := &candidate{method: Auto, trace: meanTrace(ranked[:n])}
		if score != nil {
			comb.acc = score(comb.trace)
			comb.score = comb.acc.MASE + comb.acc.RMSSE
		}
		if best == nil || comb.score < best.score {
			best, k = comb, n
		}
	}
	var why []string
	for _, c := range ranked[:k] {
		f.Members, f.Models = append(f.Members, c.method), append(f.Models, c.label)
		why = append(why, fmt.Sprintf("%s %.3f", c.label, c.score))
	}
	f.Reason = fmt.Sprintf("mean of the %d best in rolling-origin validation (MASE+RMSSE: %s; mean %.3f); %s",
		k, strings.Join(why, ", "), best.score, f.Class)
	return best
}

// meanTrace averages the traces of cands.
func meanTrace(cands []*candidate) []float64 {
	out := make([]float64, len(cands[0].trace))
	w := 1 / float64(len(cands))
	for _, c := range cands {
		for i, v := range c.trace {
			out[i] += w * v
		}
	}
	return out
}

// rankCandidates orders candidates by validation score (ties by method
// order), dropping an ETS entry that duplicates SES or a Holt-Winters member.
func rankCandidates(cands []*candidate) []*candidate {
	labels := map[string]bool{}
	for _, c := range cands {
		if c.method != ETS {
			labels[c.label] = true
		}
	}
	var out []*candidate
	for _, c := range cands {
		if c.method == ETS && labels[c.label] {
			continue
		}
		if math.IsNaN(c.score) {
			c.score = math.Inf(1)
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].score < out[j].score })
	return out
}
