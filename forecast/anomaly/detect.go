package anomaly

import (
	"math"
	"sort"

	"github.com/shardstock/shardstock/forecast"
)

// Detect judges the days of s from opts.From on and returns the anomalies
// found, ordered by first day, then kind (Kinds order). The expected demand of
// every judged day comes from forecast.Fit on the history before the day's
// block (Options.Block days, refitted block by block: no look-ahead), with
// days already found anomalous left out of later fits. It returns an error
// wrapping forecast.ErrInvalid for an invalid series or option; a series too
// short to judge gives no anomalies. Detect is safe for concurrent use.
func Detect(s Series, opts Options) ([]Anomaly, error) {
	st, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	d := newDetector(s, st)
	if err := d.run(); err != nil {
		return nil, err
	}
	return d.report(), nil
}

// detector is the state of one Detect call.
type detector struct {
	s      Series
	st     settings
	n      int
	y      []float64 // sales of judged days; NaN on days no test judges
	clean  []float64 // y with anomalous days masked (NaN), for fits
	mu     []float64 // expected sales per day (NaN: not judged)
	phi    []float64 // dispersion per day
	found  []Anomaly
	masked int // runs ending before this day have been judged for masking
	loss   *ratioTest
	canc   *ratioTest
}

func newDetector(s Series, st settings) *detector {
	n := len(s.Sales)
	d := &detector{s: s, st: st, n: n, y: s.observed(), mu: make([]float64, n+1), phi: make([]float64, n+1)}
	d.clean = append([]float64(nil), d.y...)
	d.masked = st.from
	for i := range d.mu {
		d.mu[i], d.phi[i] = math.NaN(), 1
	}
	if s.Loss != nil {
		d.loss = newRatioTest(Shrinkage, s.Loss, lossPrior, false, n)
	}
	if s.Cancelled != nil {
		d.canc = newRatioTest(CancellationBurst, s.Cancelled, cancelPrior, true, n)
	}
	return d
}

// run judges the series block by block, then its runs without sales. Only
// shrinkage needs no forecast: asked for alone, it runs without fits.
func (d *detector) run() error {
	start := d.startDay()
	fits := d.st.want[Spike] || d.st.want[DemandDrop] || d.st.want[PhantomStock] || d.st.want[CancellationBurst]
	for b := start; b < d.n; b += d.st.block {
		e := min(b+d.st.block, d.n)
		if fits {
			d.maskRuns(b)
			if err := d.expect(b, e, d.history(b)); err != nil {
				return err
			}
			d.spikes(b, e)
		}
		for _, rt := range []*ratioTest{d.loss, d.canc} {
			if rt != nil {
				d.found = append(d.found, rt.judge(d, b, e)...)
			}
		}
	}
	d.found = append(d.found, d.zeroRuns(start)...)
	return nil
}

// startDay is the first day judged: From, or the start of a run without
// sales that From falls in (not before the warm-up).
func (d *detector) startDay() int {
	b := d.st.from
	for b > d.st.warmup && b < d.n && d.y[b] == 0 && d.y[b-1] == 0 {
		b--
	}
	return b
}

// report keeps the anomalies of the wanted kinds that end on or after From,
// in order.
func (d *detector) report() []Anomaly {
	rank := map[Kind]int{}
	for i, k := range Kinds() {
		rank[k] = i
	}
	out := make([]Anomaly, 0, len(d.found))
	for _, a := range d.found {
		if d.st.want[a.Kind] && a.Day+a.Numbers.Days-1 >= d.st.from {
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		return rank[out[i].Kind] < rank[out[j].Kind]
	})
	return out
}

// judged reports whether day t has a sale figure and an expectation.
func (d *detector) judged(t int) bool {
	return t >= 0 && t < d.n && !math.IsNaN(d.y[t]) && !math.IsNaN(d.mu[t])
}

// window is the number of days of history the fits and baselines read.
func (d *detector) window() int {
	if d.st.fc.Window == 0 {
		return forecast.DefaultWindow
	}
	return d.st.fc.Window
}
