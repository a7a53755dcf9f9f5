package anomaly

import (
	"fmt"
	"math"
)

// Priors of the ratio tests: before an item has a history of losses or
// cancellations, it is assumed to lose lossPrior and to cancel cancelPrior
// units per unit sold, in events of about a tenth of a day's sales, with the
// weight of priorDays days and priorEvents events; and half a unit over the
// window (so that an item that never sold still has a finite expectation).
const (
	lossPrior   = 0.01
	cancelPrior = 0.05
	priorDays   = 28
	priorEvents = 2
	priorSize   = 0.1 // × mean daily sales, at least 1 unit
)

// ratioTest judges a daily count that should stay in proportion to sales:
// units lost to unexplained adjustments, units of reservations cancelled.
// Its baseline is the item's own history over the fit window before each
// block, days already flagged left out.
type ratioTest struct {
	kind      Kind
	values    []float64
	prior     float64 // units per unit sold before any history
	perDemand bool    // expectation follows the day's expected sales (else flat)
	flagged   []bool
}

func newRatioTest(kind Kind, values []float64, prior float64, perDemand bool, n int) *ratioTest {
	return &ratioTest{kind: kind, values: values, prior: prior, perDemand: perDemand, flagged: make([]bool, n)}
}

// baseline is the expected count per day, the mean daily sales and the
// dispersion, from the days before b.
func (rt *ratioTest) baseline(d *detector, b int) (perDay, sales, phi float64) {
	window := d.window()
	var n, sum, sq, sn, ssum float64
	for t := max(0, b-window); t < b; t++ {
		if v := rt.values[t]; !math.IsNaN(v) && !rt.flagged[t] {
			n, sum, sq = n+1, sum+v, sq+v*v
		}
		if v := d.y[t]; !math.IsNaN(v) {
			sn, ssum = sn+1, ssum+v
		}
	}
	if sn > 0 {
		sales = ssum / sn
	}
	size := math.Max(1, priorSize*sales)
	perDay = (sum + rt.prior*sales*priorDays + 0.5) / (n + priorDays)
	phi = math.Max(1, (sq+priorEvents*size*size)/(sum+priorEvents*size))
	return perDay, sales, phi
}

// judge flags the days of [b, e) whose count is improbable.
func (rt *ratioTest) judge(d *detector, b, e int) []Anomaly {
	perDay, sales, phi := rt.baseline(d, b)
	thr := d.st.threshold[rt.kind]
	var out []Anomaly
	for t := b; t < e; t++ {
		v := rt.values[t]
		if !(v > 0) {
			continue
		}
		exp := perDay
		if rt.perDemand && sales > 0 && !math.IsNaN(d.mu[t]) {
			exp = perDay * math.Max(d.mu[t], sales/4) / sales
		}
		p := upperTail(exp, phi, v)
		if score(p) < thr {
			continue
		}
		rt.flagged[t] = true
		nb := Numbers{Days: 1, Observed: v, Expected: exp, Dispersion: phi, PValue: p}
		if sales > 0 {
			nb.Rate = perDay / sales
		}
		out = append(out, Anomaly{Day: t, Kind: rt.kind, Score: score(p), Numbers: nb, Explanation: rt.text(nb)})
	}
	return out
}

func (rt *ratioTest) text(nb Numbers) string {
	what := "lost %s units to unexplained adjustments"
	if rt.kind == CancellationBurst {
		what = "cancelled or expired reservations of %s units"
	}
	s := fmt.Sprintf(what+" against %s expected", units(nb.Observed), units(nb.Expected))
	if nb.Rate > 0 {
		s += fmt.Sprintf(" (%.2g per unit sold over the item's history", nb.Rate)
	} else {
		s += " (no sales history"
	}
	return s + fmt.Sprintf("; dispersion %.2f, P = %.2g)", nb.Dispersion, nb.PValue)
}
