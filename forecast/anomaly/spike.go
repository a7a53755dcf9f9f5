package anomaly

import (
	"fmt"
	"math"
)

// spikes flags the days of [b, e) that sold far more than expected, unless
// a two-day window with a neighbour sold a plausible amount: a posting delay
// (one day's sales booked on the next day: a zero, then a double) leaves one
// of the two windows around the double day normal. A spike must also sell
// more than the item's best day of the history window, and each of its
// two-day windows more than the best two days: after a long pause (off the
// menu, an unrecorded stock-out) the forecast is near zero and the first
// sales would otherwise all look like spikes, and a delay must not turn a
// big but normal day into one. Flagged days are masked from later fits.
func (d *detector) spikes(b, e int) {
	thr := d.st.threshold[Spike]
	best, best2 := d.windowBest(b)
	for t := b; t < e; t++ {
		if !d.judged(t) || !(d.y[t] > d.mu[t]) || !(d.y[t] > best) {
			continue
		}
		p := upperTail(d.mu[t], d.phi[t], d.y[t])
		if score(p) < thr {
			continue
		}
		nb := Numbers{Days: 1, Observed: d.y[t], Expected: d.mu[t], Dispersion: d.phi[t], Best: best}
		for _, j := range []int{t - 1, t + 1} {
			if !d.judged(j) {
				continue
			}
			obs, exp := d.y[t]+d.y[j], d.mu[t]+d.mu[j]
			if !(obs > best2) {
				p = 1
			}
			pw := upperTail(exp, pooledPhi(d.mu[t], d.phi[t], d.mu[j], d.phi[j]), obs)
			if pw > p || nb.WindowExpected == 0 {
				nb.WindowObserved, nb.WindowExpected = obs, exp
			}
			p = math.Max(p, pw)
		}
		if score(p) < thr {
			continue
		}
		nb.PValue = p
		d.clean[t] = math.NaN()
		d.found = append(d.found, Anomaly{Day: t, Kind: Spike, Score: score(p), Numbers: nb,
			Explanation: spikeText(nb)})
	}
}

// windowBest is the most sold on one day, and on two consecutive days, of the
// cleaned history window before day b.
func (d *detector) windowBest(b int) (best, best2 float64) {
	w := d.clean[max(0, b-d.window()):b]
	for i, v := range w {
		if v > best { // NaN never wins
			best = v
		}
		if i > 0 && w[i-1]+v > best2 {
			best2 = w[i-1] + v
		}
	}
	return best, best2
}

func spikeText(nb Numbers) string {
	s := fmt.Sprintf("sold %s units against %s expected (dispersion %.2f, P = %.2g; the best day of the past window sold %s)",
		units(nb.Observed), units(nb.Expected), nb.Dispersion, nb.PValue, units(nb.Best))
	if nb.WindowExpected > 0 {
		s += fmt.Sprintf("; with a neighbouring day still %s against %s, so not a posting delay",
			units(nb.WindowObserved), units(nb.WindowExpected))
	}
	return s
}

// pooledPhi is the mean-weighted dispersion of two days.
func pooledPhi(mu1, phi1, mu2, phi2 float64) float64 {
	if !(mu1+mu2 > 0) {
		return math.Max(phi1, phi2)
	}
	return (mu1*phi1 + mu2*phi2) / (mu1 + mu2)
}

// units formats a number of units: integers and large numbers without
// decimals, others with one decimal or, below 1, two significant digits.
func units(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v) || a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
