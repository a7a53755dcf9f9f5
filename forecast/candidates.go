package forecast

import "math"

// candidate is a method with its model, ready to be fitted or already fitted.
type candidate struct {
	method Method
	model  model
	label  string // model detail for ETS members, e.g. "ETS(A,Ad,M)"
	trace  []float64
	score  float64
	acc    Accuracy
}

// etsFamily is the ETS members Fit compares by AIC.
var etsFamily = [...]etsSpec{
	{false, noSeason}, {true, noSeason},
	{false, addSeason}, {true, addSeason},
	{false, multSeason}, {true, multSeason},
}

// yearlyFamily is the ETS members compared under the yearly profile.
var yearlyFamily = [...]etsSpec{{false, addSeason}, {false, multSeason}}

// positive reports whether every observed value of y is > 0: multiplicative
// seasonality is only considered then (as in Hyndman's ets), because a
// weekday factor learnt from near-zero levels explodes.
func positive(y []float64) bool {
	for _, v := range y {
		if v <= 0 { // NaN compares false
			return false
		}
	}
	return true
}

// fitETS fits the given members on y and returns them with the best by AIC
// (multiplicative members compete only on positive data).
func fitETS(y []float64, specs []etsSpec) (fits []*etsModel, best *etsModel) {
	bestAIC := math.Inf(1)
	pos := positive(y)
	for i, s := range specs {
		m := &etsModel{spec: s}
		if s.damped && i > 0 && !specs[i-1].damped && specs[i-1].season == s.season {
			m.start = fits[i-1]
		}
		m.fit(y)
		fits = append(fits, m)
		if s.season == multSeason && !pos {
			continue
		}
		if a := m.aic(); a < bestAIC {
			best, bestAIC = m, a
		}
	}
	if best == nil { // every member failed: SES always works on finite data
		best = fits[0]
	}
	return fits, best
}

// fitCandidates fits the models of methods on train (the window up to the
// validation cut) and returns them. hist is the whole trimmed history and off
// the offset of the window in it (for the yearly profile); h is the horizon.
func fitCandidates(methods []Method, train, hist []float64, off, h int) []*candidate {
	var out []*candidate
	var family []*etsModel
	var bestETS *etsModel
	var croston *crostonModel
	needETS := false
	for _, m := range methods {
		switch m {
		case SES, ETS, HoltWintersAdd, HoltWintersMul:
			needETS = true
		}
	}
	if needETS {
		family, bestETS = fitETS(train, etsFamily[:])
	}
	for _, m := range methods {
		c := &candidate{method: m, label: string(m)}
		switch m {
		case Naive:
			c.model = naiveModel{}
		case SeasonalNaive:
			c.model = seasonalNaiveModel{}
		case MovingAverage:
			c.model = movingAverageModel{}
		case MAWeekly:
			c.model = maWeeklyModel{}
		case SES:
			c.model, c.label = family[0], family[0].spec.String()
		case HoltWintersAdd:
			c.model, c.label = family[3], family[3].spec.String()
		case HoltWintersMul:
			c.model, c.label = family[5], family[5].spec.String()
		case ETS:
			c.model, c.label = bestETS, bestETS.spec.String()
		case ETSYearly:
			c.model, c.label = fitYearly(train, hist, off, h)
		case yearlyMembers:
			out = append(out, yearlyCandidates(train, hist, off, h)...)
			continue
		case Croston, SBA:
			// SBA corrects Croston with the same alpha: fit it once.
			if croston == nil {
				croston = &crostonModel{}
				croston.fit(train)
			}
			c.model = &crostonModel{sba: m == SBA, alpha: croston.alpha}
		case TSB:
			tm := &tsbModel{}
			tm.fit(train)
			c.model = tm
		}
		if c.model == nil {
			continue
		}
		switch m {
		case Naive, SeasonalNaive, MovingAverage:
			c.model.fit(train)
		}
		out = append(out, c)
	}
	return out
}

// yearlyMembers is a pseudo-method: every member of yearlyFamily as a
// separate Auto candidate (method ETSYearly).
const yearlyMembers Method = "ets-yearly-members"

// yearlyCandidates fits the yearly-profile ETS members on train (the
// multiplicative one only on positive data).
func yearlyCandidates(train, hist []float64, off, h int) []*candidate {
	factors := yearlyFactors(hist, h)
	var out []*candidate
	pos := positive(train)
	undamped := map[season]*etsModel{}
	for _, s := range yearlyFamily {
		if s.season == multSeason && !pos {
			continue
		}
		em := &etsModel{spec: s, start: undamped[s.season]}
		ym := &yearlyModel{inner: em, factors: factors, off: off}
		ym.fit(train)
		if !s.damped {
			undamped[s.season] = em
		}
		out = append(out, &candidate{method: ETSYearly, model: ym, label: "yearly×" + s.String()})
	}
	return out
}

// fitYearly fits the yearly-profile ETS members on train and returns the best
// by AIC.
func fitYearly(train, hist []float64, off, h int) (model, string) {
	var best *candidate
	bestAIC := math.Inf(1)
	for _, c := range yearlyCandidates(train, hist, off, h) {
		if a := c.model.(*yearlyModel).inner.(*etsModel).aic(); a < bestAIC || best == nil {
			best, bestAIC = c, a
		}
	}
	return best.model, best.label
}

// autoMethods lists the methods Auto considers for a window starting at off.
func autoMethods(off int, positive bool) []Method {
	ms := []Method{SeasonalNaive, MovingAverage, MAWeekly, SES, ETS, HoltWintersAdd, Croston, SBA, TSB}
	if positive {
		ms = append(ms, HoltWintersMul)
	}
	if hasYearly(off) {
		ms = append(ms, yearlyMembers)
	}
	return ms
}
