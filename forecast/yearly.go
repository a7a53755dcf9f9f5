package forecast

import "math"

// Yearly profile: the demand of day t relative to its year, estimated from the
// same days of past years (52-week lags keep the weekday). For a lag of k
// years, u = t - 364k; the factor pools, over the up to maxYears lags with
// data, the demand in the 7 days centred on u divided by the mean demand in
// the 364 days centred on u. Pooling sums before dividing keeps sparse series
// stable.
const (
	yearDays   = 364
	halfYear   = yearDays / 2
	maxYears   = 4
	minYearly  = 0.2 // factors are clipped to [minYearly, 1/minYearly]
	yearlyHalf = 3   // half-width of the 7-day window
)

// prefixSums holds running sums of observed values and counts.
type prefixSums struct{ sum, cnt []float64 }

func newPrefixSums(y []float64) prefixSums {
	p := prefixSums{sum: make([]float64, len(y)+1), cnt: make([]float64, len(y)+1)}
	for i, v := range y {
		p.sum[i+1], p.cnt[i+1] = p.sum[i], p.cnt[i]
		if !math.IsNaN(v) {
			p.sum[i+1] += v
			p.cnt[i+1]++
		}
	}
	return p
}

// mean is the mean of the observed values in [lo, hi) and their count.
func (p prefixSums) mean(lo, hi int) (float64, float64) {
	c := p.cnt[hi] - p.cnt[lo]
	if c == 0 {
		return 0, 0
	}
	return (p.sum[hi] - p.sum[lo]) / c, c
}

// yearlyFactors returns the profile factor of every day of hist and of the
// h days after it (1 where no past year is available).
func yearlyFactors(hist []float64, h int) []float64 {
	ps := newPrefixSums(hist)
	n := len(hist)
	f := make([]float64, n+h)
	for t := range f {
		num, den := 0.0, 0.0
		for k := 1; k <= maxYears; k++ {
			u := t - yearDays*k
			if u-halfYear < 0 || u+halfYear > n || u+yearlyHalf+1 > n {
				continue
			}
			week, wc := ps.mean(u-yearlyHalf, u+yearlyHalf+1)
			year, yc := ps.mean(u-halfYear, u+halfYear)
			if wc < 4 || yc < yearDays/2 {
				continue
			}
			num += week
			den += year
		}
		f[t] = 1
		if den > 0 && num > 0 {
			f[t] = min(max(num/den, minYearly), 1/minYearly)
		}
	}
	return f
}

// hasYearly reports whether the first day of a window starting at offset off
// of hist already has a past year to learn from.
func hasYearly(off int) bool {
	return off >= yearDays+halfYear
}

// yearlyModel runs an inner model on demand divided by the yearly profile and
// multiplies its forecasts back. factors[off+t] is the factor of day t of
// the window the model sees.
type yearlyModel struct {
	inner   model
	factors []float64
	off     int
	buf     []float64
}

// adjust returns y divided by the profile.
func (m *yearlyModel) adjust(y []float64) []float64 {
	if cap(m.buf) < len(y) {
		m.buf = make([]float64, len(y))
	}
	a := m.buf[:len(y)]
	for t, v := range y {
		a[t] = v / m.factors[m.off+t]
	}
	return a
}

func (m *yearlyModel) fit(y []float64) { m.inner.fit(m.adjust(y)) }

func (m *yearlyModel) run(y []float64, from, h int, fc []float64) {
	m.inner.run(m.adjust(y), from, h, fc)
	for t := from; t <= len(y); t++ {
		out := fc[(t-from)*h : (t-from+1)*h]
		for k := range out {
			if i := m.off + t + k; i < len(m.factors) {
				out[k] = clampForecast(out[k] * m.factors[i])
			}
		}
	}
}
