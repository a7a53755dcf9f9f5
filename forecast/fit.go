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
	// Pass 1: forecasts from the validation origins only, to rank.
	var score func(trace []float64) Accuracy
	for _, c := range cands {
		c.trace = make([]float64, (len(y)-cut+1)*h)
		c.model.run(y, cut, h, c.trace)
	}
	if cut < len(y) {
		scaleMAE, scaleMSE := Scale(y[:cut])
		score = func(trace []float64) Accuracy {
			return validate(y, trace, cut, cut, h, hv).accuracy(scaleMAE, scaleMSE)
		}
		for _, c := range cands {
			c.acc = score(c.trace)
			c.score = c.acc.MASE + c.acc.RMSSE
		}
	}
	members := f.choose(cands, score)
	if score != nil {
		f.Backtest = score(meanTrace(members))
		f.BacktestOrigins = len(y) - hv - cut + 1
	}
	// Pass 2: the members' forecasts from every error origin, averaged.
	from := min(cut, max(0, len(y)-errorOrigins))
	trace := combinedTrace(members, y, from, h)
	f.Mean = make([]float64, h)
	copy(f.Mean, trace[(len(y)-from)*h:])
	f.dist = newErrDist(y, trace, max(from, min(warmup, len(y)-1)), from, h, scaleFloor*wmean)
	f.ResidualScale = f.dist.scale
	return f, nil
}

// combinedTrace runs every member over y from origin from and averages
// their forecasts.
func combinedTrace(members []*candidate, y []float64, from, h int) []float64 {
	out := make([]float64, (len(y)-from+1)*h)
	if len(members) == 1 {
		members[0].model.run(y, from, h, out)
		return out
	}
	buf := make([]float64, len(out))
	w := 1 / float64(len(members))
	for _, c := range members {
		c.model.run(y, from, h, buf)
		for i, v := range buf {
			out[i] += w * v
		}
	}
	return out
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

// choose picks the candidates whose mean becomes the forecast and records
// the choice and the reason on f. With validation (score not nil), Auto
// averages the combineTop candidates that validate best (choosing how many
// by validation too, or taking the median, did worse on development splits
// of the three real data sets); without it (short history), Auto follows
// the demand class.
func (f *Forecast) choose(cands []*candidate, score func([]float64) Accuracy) []*candidate {
	if f.Method != Auto {
		c := cands[0]
		f.Members, f.Models = []Method{c.method}, []string{c.label}
		f.Reason = "method " + string(c.method) + " requested"
		return cands[:1]
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
				return []*candidate{c}
			}
		}
	}
	ranked := rankCandidates(cands)
	top := ranked[:min(combineTop, len(ranked))]
	var why []string
	for _, c := range top {
		f.Members, f.Models = append(f.Members, c.method), append(f.Models, c.label)
		why = append(why, fmt.Sprintf("%s %.3f", c.label, c.score))
	}
	f.Reason = fmt.Sprintf("mean of the %d best in rolling-origin validation (MASE+RMSSE: %s); %s",
		len(top), strings.Join(why, ", "), f.Class)
	return top
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
