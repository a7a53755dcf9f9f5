package forecast

import "math"

// crostonModel is Croston's method: demand sizes and the intervals between
// demands smoothed separately with the same alpha; the forecast is
// size/interval. With sba it applies the Syntetos-Boylan bias correction
// (1 - alpha/2).
type crostonModel struct {
	sba   bool
	alpha float64
}

// crostonRun filters y and returns the one-step SSE; with fc it also writes
// forecasts from every origin ≥ from (constant over the horizon).
func crostonRun(y []float64, alpha float64, sba bool, from, h int, fc []float64) float64 {
	size, interval, since := 0.0, 0.0, 0.0
	started := false
	factor := 1.0
	if sba {
		factor = 1 - alpha/2
	}
	sse := 0.0
	for t := 0; t <= len(y); t++ {
		f := 0.0
		if started && interval > 0 {
			f = factor * size / interval
		}
		if fc != nil && t >= from {
			fill(fc[(t-from)*h:(t-from+1)*h], clampForecast(f))
		}
		if t == len(y) || math.IsNaN(y[t]) {
			continue
		}
		since++
		v := y[t]
		if started {
			e := v - f
			sse += e * e
		}
		if v <= 0 {
			continue
		}
		if !started {
			size, interval, started = v, since, true
		} else {
			size += alpha * (v - size)
			interval += alpha * (since - interval)
		}
		since = 0
	}
	return sse
}

// fit chooses alpha by the one-step SSE of Croston's forecast (also for SBA,
// which then applies its correction with the same alpha).
func (m *crostonModel) fit(y []float64) {
	x := minimize(func(x []float64) float64 {
		return crostonRun(y, 0.02+0.48*logistic(x[0]), false, 0, 0, nil)
	}, []float64{logit(0.1 / 0.48)}, 60)
	m.alpha = 0.02 + 0.48*logistic(x[0])
}

func (m *crostonModel) run(y []float64, from, h int, fc []float64) {
	crostonRun(y, m.alpha, m.sba, from, h, fc)
}

// tsbModel is Teunter-Syntetos-Babai: the probability of a demand smoothed
// every day with beta, the size of a demand smoothed on demand days with
// alpha; the forecast is probability × size, so it decays during long runs
// of zeros (obsolescence) where Croston's stays flat.
type tsbModel struct {
	alpha, beta  float64
	prob0, size0 float64
}

// tsbRun filters y and returns the one-step SSE; with fc it also writes
// forecasts from every origin ≥ from.
func (m *tsbModel) tsbRun(y []float64, from, h int, fc []float64) float64 {
	p, z := m.prob0, m.size0
	sse := 0.0
	for t := 0; t <= len(y); t++ {
		f := p * z
		if fc != nil && t >= from {
			fill(fc[(t-from)*h:(t-from+1)*h], clampForecast(f))
		}
		if t == len(y) || math.IsNaN(y[t]) {
			continue
		}
		v := y[t]
		e := v - f
		sse += e * e
		if v > 0 {
			p += m.beta * (1 - p)
			z += m.alpha * (v - z)
		} else {
			p -= m.beta * p
		}
	}
	return sse
}

func (m *tsbModel) fit(y []float64) {
	nz, n, sum := 0, 0, 0.0
	for _, v := range y {
		if math.IsNaN(v) {
			continue
		}
		n++
		if v > 0 {
			nz++
			sum += v
		}
	}
	m.prob0, m.size0 = 0, 0
	if n > 0 {
		m.prob0 = float64(nz) / float64(n)
	}
	if nz > 0 {
		m.size0 = sum / float64(nz)
	}
	x := minimize(func(x []float64) float64 {
		m.alpha, m.beta = 0.01+0.49*logistic(x[0]), 0.01+0.49*logistic(x[1])
		return m.tsbRun(y, 0, 0, nil)
	}, []float64{logit(0.09 / 0.49), logit(0.04 / 0.49)}, 120)
	m.alpha, m.beta = 0.01+0.49*logistic(x[0]), 0.01+0.49*logistic(x[1])
}

func (m *tsbModel) run(y []float64, from, h int, fc []float64) {
	m.tsbRun(y, from, h, fc)
}
