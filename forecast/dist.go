package forecast

import (
	"math"
	"sort"
	"sync"

	"gonum.org/v1/gonum/stat"
)

// minErrors is the fewest error samples an empirical quantile is taken from.
const minErrors = 20

// dayBand is the half-width of the band of horizons whose error quantiles
// are averaged for one day.
const dayBand = 3

// errDist holds the model's own recent errors (actual − forecast), each
// divided by the square root of its forecast (at least floor): count-like
// demand has a variance that grows with its mean, so errors seen at one level
// are rescaled to the level forecast now. Each set is sorted on first use
// (most callers need only one of them), safely for concurrent readers.
type errDist struct {
	perDay  [][]float64 // perDay[k]: scaled errors of forecasts k+1 days ahead
	cum     [][]float64 // cum[k]: scaled errors of forecasts summed over days 1..k+1
	floor   float64     // smallest forecast a scale is taken from
	scale   float64     // robust scale of the raw one-step errors
	dayOnce sync.Once
	cumOnce sync.Once
}

// days returns perDay, sorted.
func (d *errDist) days() [][]float64 {
	d.dayOnce.Do(func() { sortAll(d.perDay) })
	return d.perDay
}

// sums returns cum, sorted.
func (d *errDist) sums() [][]float64 {
	d.cumOnce.Do(func() { sortAll(d.cum) })
	return d.cum
}

func sortAll(xs [][]float64) {
	for _, x := range xs {
		sort.Float64s(x)
	}
}

// unit is the scale of an error of a forecast v.
func (d *errDist) unit(v float64) float64 {
	return math.Sqrt(math.Max(v, d.floor))
}

// originStride is the spacing of the origins errors are collected from:
// neighbouring origins share most of their days, so every other one carries
// nearly all the information at half the cost of sorting.
const originStride = 2

// newErrDist collects the errors of the forecasts in trace made at every
// originStride-th origin of [first, len(y)), the last included (trace
// starts at origin from). A missing day adds no error
// to the day's sample and zero to the sums.
func newErrDist(y, trace []float64, first, from, h int, floor float64) *errDist {
	d := &errDist{perDay: make([][]float64, h), cum: make([][]float64, h), floor: max(floor, 1e-9)}
	var raw []float64
	origins := max(0, len(y)-first)/originStride + 1
	for k := range h {
		d.perDay[k] = make([]float64, 0, max(0, origins-k))
		d.cum[k] = make([]float64, 0, max(0, origins-k))
	}
	for t := len(y) - 1; t >= first; t -= originStride {
		fc := trace[(t-from)*h:]
		sum, fsum := 0.0, 0.0
		for k := 0; k < h && t+k < len(y); k++ {
			fsum += fc[k]
			if v := y[t+k]; !math.IsNaN(v) {
				e := v - fc[k]
				d.perDay[k] = append(d.perDay[k], e/d.unit(fc[k]))
				sum += e
				if k == 0 {
					raw = append(raw, e)
				}
			}
			d.cum[k] = append(d.cum[k], sum/d.unit(fsum))
		}
	}
	d.scale = robustScale(raw)
	return d
}

// dayQuantile is the p-quantile of the scaled error of a forecast k+1 days
// ahead: the average of the quantiles of the horizons within dayBand of k.
// Quantiles are empirical (sample values, no interpolation: interpolated
// ones can break the order by an ulp), and averaging them keeps them
// non-decreasing in p exactly. ok is false with too few errors.
func (d *errDist) dayQuantile(k int, p float64) (q float64, ok bool) {
	if d == nil {
		return 0, false
	}
	return d.band(k, func(j int) float64 { return stat.Quantile(p, stat.Empirical, d.days()[j], nil) })
}

// dayQuantiles is dayQuantile for every day of the horizon, each horizon's
// quantile taken once; NaN marks a day with too few errors.
func (d *errDist) dayQuantiles(p float64) []float64 {
	days := d.days()
	per := make([]float64, len(days))
	for j, e := range days {
		if len(e) > 0 {
			per[j] = stat.Quantile(p, stat.Empirical, e, nil)
		}
	}
	out := make([]float64, len(days))
	for k := range out {
		q, ok := d.band(k, func(j int) float64 { return per[j] })
		if !ok {
			q = math.NaN()
		}
		out[k] = q
	}
	return out
}

// band averages quantile(j) over the horizons j within dayBand of k that
// have errors; ok is false when they hold fewer than minErrors in all.
func (d *errDist) band(k int, quantile func(j int) float64) (float64, bool) {
	days := d.days()
	sum, n, samples := 0.0, 0, 0
	for j := max(0, k-dayBand); j <= min(len(days)-1, k+dayBand); j++ {
		if len(days[j]) == 0 {
			continue
		}
		sum += quantile(j)
		n++
		samples += len(days[j])
	}
	if samples < minErrors || n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// sumQuantile is the p-quantile of the error of the forecast summed over days
// 1..k+1. ok is false with too few errors.
func (d *errDist) sumQuantile(k int, p float64) (float64, bool) {
	if d == nil || k >= len(d.cum) || len(d.cum[k]) < minErrors {
		return 0, false
	}
	return stat.Quantile(p, stat.Empirical, d.sums()[k], nil), true
}

// robustScale is 1.4826 × the median absolute deviation of e (a standard
// deviation for normal errors, unmoved by outliers); 0 without errors.
// It sorts e.
func robustScale(e []float64) float64 {
	if len(e) == 0 {
		return 0
	}
	sort.Float64s(e)
	med := stat.Quantile(0.5, stat.LinInterp, e, nil)
	dev := make([]float64, len(e))
	for i, v := range e {
		dev[i] = math.Abs(v - med)
	}
	sort.Float64s(dev)
	return 1.4826 * stat.Quantile(0.5, stat.LinInterp, dev, nil)
}
