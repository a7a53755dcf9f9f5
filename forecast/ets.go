package forecast

import "math"

// season is the kind of weekly seasonality of an ETS model.
type season byte

const (
	noSeason   season = 'N'
	addSeason  season = 'A'
	multSeason season = 'M'
)

// etsSpec names one member of the ETS family with additive errors.
type etsSpec struct {
	damped bool   // damped additive trend (else no trend)
	season season // weekly season
}

// String is the usual ETS(error, trend, season) notation, e.g. "ETS(A,Ad,M)".
func (s etsSpec) String() string {
	t := "N"
	if s.damped {
		t = "Ad"
	}
	return "ETS(A," + t + "," + string(s.season) + ")"
}

// params is the number of fitted quantities AIC charges for: the smoothing
// parameters, the initial level, trend and seasonal states, and the variance.
func (s etsSpec) params() int {
	k := 1 + 1 + 1 // alpha, initial level, variance
	if s.damped {
		k += 3 // beta, phi, initial trend
	}
	if s.season != noSeason {
		k += 1 + period - 1 // gamma, initial seasonal states
	}
	return k
}

// etsModel is an ETS model with additive errors, fitted by least squares
// (the Gaussian likelihood of additive errors).
type etsModel struct {
	spec                    etsSpec
	alpha, beta, gamma, phi float64
	sse                     float64 // in-sample sum of squared one-step errors
	nobs                    int     // observations in the fit
	ok                      bool    // false when the model cannot describe the data (e.g. M with no level)
	// start, when set, is a fitted sibling without trend whose alpha and
	// gamma start the search (a damped member then needs fewer evaluations).
	start *etsModel
}

// etsStates are the level, trend and weekly seasonal states.
type etsStates struct {
	level, trend float64
	season       [period]float64
}

// minSeason bounds multiplicative seasonal factors away from zero: the
// updates divide by them, and a factor near zero (a weekday without sales)
// would turn every error on that day into a jump of the level.
const minSeason, maxSeason = 0.1, 10

// initStates returns heuristic initial states from the first four weeks of
// y; ok is false when the model cannot start (multiplicative season without
// a positive level).
func (m *etsModel) initStates(y []float64) (st etsStates, ok bool) {
	head := y[:min(len(y), 4*period)]
	n, mean, _ := observedStats(head)
	if n == 0 {
		_, mean, _ = observedStats(y)
	}
	st.level = mean
	var sum [period]float64
	var cnt [period]int
	for i, v := range head {
		if !math.IsNaN(v) {
			sum[i%period] += v
			cnt[i%period]++
		}
	}
	for d := range st.season {
		avg := mean
		if cnt[d] > 0 {
			avg = sum[d] / float64(cnt[d])
		}
		switch m.spec.season {
		case addSeason:
			st.season[d] = avg - mean
		case multSeason:
			st.season[d] = 1
			if mean > 0 {
				st.season[d] = min(max(avg/mean, minSeason), maxSeason)
			}
		}
	}
	return st, m.spec.season != multSeason || mean > 0
}

// setParams maps unconstrained x onto the smoothing parameters:
// 0<alpha<1, 0<beta<alpha, 0<gamma<1-alpha, 0.8<phi<0.98.
func (m *etsModel) setParams(x []float64) {
	m.alpha = logistic(x[0])
	i := 1
	m.beta, m.phi = 0, 1
	if m.spec.damped {
		m.beta = m.alpha * logistic(x[i])
		m.phi = 0.8 + 0.18*logistic(x[i+1])
		i += 2
	}
	m.gamma = 0
	if m.spec.season != noSeason {
		m.gamma = (1 - m.alpha) * logistic(x[i])
	}
}

// startParams is the optimiser's starting point in the unconstrained space.
func (m *etsModel) startParams() []float64 {
	alpha, gamma := 0.1, 0.05
	if m.start != nil && m.start.ok {
		alpha, gamma = min(max(m.start.alpha, 0.01), 0.95), min(max(m.start.gamma/(1-m.start.alpha), 0.01), 0.95)
	}
	x := []float64{logit(alpha)}
	if m.spec.damped {
		x = append(x, logit(0.1), logit(0.5))
	}
	if m.spec.season != noSeason {
		x = append(x, logit(gamma))
	}
	return x
}

// fitDays is how many of the last days of its training data a model's
// parameters are estimated on (the optimiser's cost grows with it).
const fitDays = 364

func (m *etsModel) fit(y []float64) {
	y = y[max(0, len(y)-fitDays):]
	st, ok := m.initStates(y)
	if m.ok = ok; !ok {
		return
	}
	x0 := m.startParams()
	x := minimize(func(x []float64) float64 {
		m.setParams(x)
		return m.sumSquares(y, st)
	}, x0, 25*len(x0)+15)
	m.setParams(x)
	m.sse, m.nobs = m.filter(y, -1, 0, nil)
	m.ok = !math.IsInf(m.sse, 0) && !math.IsNaN(m.sse)
}

// aic is Akaike's information criterion of the fitted model (+Inf if unusable).
func (m *etsModel) aic() float64 {
	if !m.ok || m.nobs == 0 {
		return math.Inf(1)
	}
	n := float64(m.nobs)
	return n*math.Log(max(m.sse/n, 1e-300)) + 2*float64(m.spec.params())
}

func (m *etsModel) run(y []float64, from, h int, fc []float64) {
	if !m.ok {
		naiveModel{}.run(y, from, h, fc)
		return
	}
	m.filter(y, from, h, fc)
}

// filter runs the model over y from the initial states and returns the sum
// of squared one-step errors and the number of observations (+Inf when the
// states blow up). When fc is not nil it writes the h-step forecasts of every
// origin t ≥ from into fc[(t-from)*h:].
func (m *etsModel) filter(y []float64, from, h int, fc []float64) (float64, int) {
	st, _ := m.initStates(y)
	l, b, s := st.level, st.trend, st.season
	a, beta, g, phi := m.alpha, m.beta, m.gamma, m.phi
	sse, n := 0.0, 0
	for t := 0; t <= len(y); t++ {
		if fc != nil && t >= from {
			m.emit(l, b, &s, t, fc[(t-from)*h:(t-from+1)*h])
		}
		if t == len(y) {
			break
		}
		lb := l + phi*b
		yt := y[t]
		if math.IsNaN(yt) {
			l, b = lb, phi*b
			continue
		}
		d := t % period
		var e float64
		switch m.spec.season {
		case noSeason:
			e = yt - lb
			l, b = lb+a*e, phi*b+beta*e
		case addSeason:
			e = yt - lb - s[d]
			l, b = lb+a*e, phi*b+beta*e
			s[d] += g * e
		case multSeason:
			sd := s[d]
			e = yt - lb*sd
			l, b = max(lb+a*e/sd, 0), phi*b+beta*e/sd
			if lb > 1e-9 {
				s[d] = min(max(sd+g*e/lb, minSeason), maxSeason)
			}
		}
		sse += e * e
		n++
		if !(sse < 1e300) {
			return math.Inf(1), n
		}
	}
	return sse, n
}

// emit writes the forecasts of days t..t+len(out)-1 from the states.
func (m *etsModel) emit(l, b float64, s *[period]float64, t int, out []float64) {
	phik := 0.0
	pw := 1.0
	for k := range out {
		pw *= m.phi
		phik += pw
		f := l + phik*b
		switch m.spec.season {
		case addSeason:
			f += s[(t+k)%period]
		case multSeason:
			f *= s[(t+k)%period]
		}
		out[k] = clampForecast(f)
	}
}

// sumSquares is the first result of filter without forecasts, in loops
// specialised by season: the optimiser calls it hundreds of times per fit.
func (m *etsModel) sumSquares(y []float64, st etsStates) float64 {
	l, b, s := st.level, st.trend, st.season
	a, beta, g, phi := m.alpha, m.beta, m.gamma, m.phi
	sse := 0.0
	d := 0
	switch m.spec.season {
	case noSeason:
		for _, v := range y {
			lb := l + phi*b
			if v != v { // missing
				l, b = lb, phi*b
				continue
			}
			e := v - lb
			l, b = lb+a*e, phi*b+beta*e
			sse += e * e
		}
	case addSeason:
		for _, v := range y {
			lb := l + phi*b
			if v == v {
				e := v - lb - s[d]
				l, b = lb+a*e, phi*b+beta*e
				s[d] += g * e
				sse += e * e
			} else {
				l, b = lb, phi*b
			}
			if d++; d == period {
				d = 0
			}
		}
	case multSeason:
		for _, v := range y {
			lb := l + phi*b
			if v == v {
				sd := s[d]
				e := v - lb*sd
				l, b = max(lb+a*e/sd, 0), phi*b+beta*e/sd
				if lb > 1e-9 {
					s[d] = min(max(sd+g*e/lb, minSeason), maxSeason)
				}
				sse += e * e
			} else {
				l, b = lb, phi*b
			}
			if d++; d == period {
				d = 0
			}
		}
	}
	if !(sse < 1e300) {
		return math.Inf(1)
	}
	return sse
}
