package anomaly

import (
	"fmt"
	"math"
)

// zeroRun is the judgement of a run of judged days without a sale.
type zeroRun struct {
	expected float64 // units expected over the run
	phi      float64 // mean-weighted dispersion of the run
	score    float64 // min of the run's score and its window scores
	nb       Numbers
}

// judgeRun scores the run [a, b]: the probability of no sale on every day.
// A posting delay can explain one day of a run (its sales booked on the
// next day, or on the day before), so the run is also judged without its
// last day, times the probability that the last day and the day after sold
// no more than was booked on the day after; and alike without its first
// day. The run's p-value is the largest of the three. For a one-day run the
// second is the probability of the two-day window selling no more than was
// sold: a zero followed by a double passes.
func (d *detector) judgeRun(a, b int) zeroRun {
	var r zeroRun
	logp, wphi := 0.0, 0.0
	for t := a; t <= b; t++ {
		logp += logZero(d.mu[t], d.phi[t])
		r.expected += d.mu[t]
		wphi += d.mu[t] * d.phi[t]
	}
	r.phi = 1
	if r.expected > 0 {
		r.phi = wphi / r.expected
	}
	r.score = math.Min(-logp/math.Ln10, MaxScore)
	r.nb = Numbers{Days: b - a + 1, Expected: r.expected, Dispersion: r.phi, Ongoing: b == d.n-1}
	for _, ends := range [][2]int{{b, b + 1}, {a, a - 1}} {
		edge, j := ends[0], ends[1]
		if !d.judged(j) {
			continue
		}
		exp := d.mu[edge] + d.mu[j]
		pw := lowerTail(exp, pooledPhi(d.mu[edge], d.phi[edge], d.mu[j], d.phi[j]), d.y[j])
		s := math.Min(-(logp-logZero(d.mu[edge], d.phi[edge]))/math.Ln10+score(pw), MaxScore)
		if s < r.score || r.nb.WindowExpected == 0 {
			r.nb.WindowObserved, r.nb.WindowExpected = d.y[j], exp
		}
		r.score = math.Min(r.score, s)
	}
	r.nb.PValue = math.Pow(10, -r.score)
	r.nb.OnHand = d.lastOnHand(a, b)
	return r
}

// lastOnHand is the last known on-hand level of days [a, b] (0: unknown).
func (d *detector) lastOnHand(a, b int) float64 {
	for t := b; t >= a; t-- {
		if v := at(d.s.OnHand, t); !math.IsNaN(v) {
			return v
		}
	}
	return 0
}

// runKind is phantom_stock for long runs, demand_drop for short ones.
func (d *detector) runKind(days int) Kind {
	if days >= d.st.phantomDays {
		return PhantomStock
	}
	return DemandDrop
}

// zeroRuns flags the improbable runs without sales from day start on.
func (d *detector) zeroRuns(start int) []Anomaly {
	var out []Anomaly
	for t := start; t < d.n; t++ {
		if !(d.judged(t) && d.y[t] == 0) {
			continue
		}
		a := t
		for t+1 < d.n && d.judged(t+1) && d.y[t+1] == 0 {
			t++
		}
		r := d.judgeRun(a, t)
		kind := d.runKind(r.nb.Days)
		if r.score < d.st.threshold[kind] {
			continue
		}
		out = append(out, Anomaly{Day: a, Kind: kind, Score: r.score, Numbers: r.nb, Explanation: runText(kind, r.nb)})
	}
	return out
}

// maskRuns judges the runs without sales that ended before day b since the
// last call and masks the improbable ones from later fits.
func (d *detector) maskRuns(b int) {
	thr := math.Min(d.st.threshold[DemandDrop], d.st.threshold[PhantomStock])
	for t := d.masked; t < b; t++ {
		if !(d.judged(t) && d.y[t] == 0) {
			continue
		}
		a := t
		for t+1 < b && d.judged(t+1) && d.y[t+1] == 0 {
			t++
		}
		if t == b-1 { // still going on: judged again at the next block
			d.masked = a
			return
		}
		if d.judgeRun(a, t).score >= thr {
			for k := a; k <= t; k++ {
				d.clean[k] = math.NaN()
			}
		}
	}
	d.masked = b
}

// history is the cleaned history before day b that the fit of the block
// starting at b reads, with the run without sales that ends it (if any)
// masked: a run's own zeros must not lower the rate it is judged against.
func (d *detector) history(b int) []float64 {
	a := b
	for a > 0 && d.y[a-1] == 0 && !math.IsNaN(d.mu[a-1]) {
		a--
	}
	if a == b {
		return d.clean[:b]
	}
	h := append([]float64(nil), d.clean[:b]...)
	for t := a; t < b; t++ {
		h[t] = math.NaN()
	}
	return h
}

func runText(kind Kind, nb Numbers) string {
	s := fmt.Sprintf("no sale for %d days while in stock against %s units expected (dispersion %.2f, P = %.2g)",
		nb.Days, units(nb.Expected), nb.Dispersion, nb.PValue)
	if nb.OnHand > 0 {
		s = fmt.Sprintf("no sale for %d days while the system showed %s on hand, against %s units expected (dispersion %.2f, P = %.2g)",
			nb.Days, units(nb.OnHand), units(nb.Expected), nb.Dispersion, nb.PValue)
	}
	if nb.WindowExpected > 0 {
		s += fmt.Sprintf("; not a posting delay: with its neighbour, the run's edge day sold %s against %s expected",
			units(nb.WindowObserved), units(nb.WindowExpected))
	}
	if nb.Ongoing {
		s += "; still going on"
	}
	if kind == PhantomStock {
		s += ": the stock record is probably wrong"
	}
	return s
}
