// Package faults plants known faults in demand series and scores what
// anomaly.Detect finds against them: the benchmark harness of the anomaly
// detectors. Injection is deterministic: the same seed, series number and
// series give the same faults on every machine.
package faults

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/shardstock/shardstock/forecast/anomaly"
)

// Kind is the kind of a planted fault.
type Kind string

// The faults. Delay is harmless and must not be flagged.
const (
	// Spike multiplies one day's sales by 10.
	Spike Kind = "spike"
	// Drop sets DropDays days of sales to zero while in stock.
	Drop Kind = "drop"
	// Frozen sets FrozenDays days of sales to zero while in stock: sales
	// stop while the system shows stock (phantom stock).
	Frozen Kind = "frozen"
	// Shrinkage adds an unexplained loss of 1..3 days of mean sales.
	Shrinkage Kind = "shrinkage"
	// Cancellations adds cancelled reservations of 1..3 days of mean sales.
	Cancellations Kind = "cancellations"
	// Delay books one day's sales on the next day: a zero, then the sum.
	Delay Kind = "delay"
)

// Kinds lists every fault kind in a fixed order.
func Kinds() []Kind { return []Kind{Spike, Drop, Frozen, Shrinkage, Cancellations, Delay} }

// Want is the anomaly kind a fault should be flagged as; ok is false for a
// harmless fault.
func (k Kind) Want() (anomaly.Kind, bool) {
	switch k {
	case Spike:
		return anomaly.Spike, true
	case Drop:
		return anomaly.DemandDrop, true
	case Frozen:
		return anomaly.PhantomStock, true
	case Shrinkage:
		return anomaly.Shrinkage, true
	case Cancellations:
		return anomaly.CancellationBurst, true
	}
	return "", false
}

// Fault is one planted fault.
type Fault struct {
	Kind Kind
	Day  int // first day
	Days int // days covered
	// Units is what the fault changed: units added (spike, shrinkage,
	// cancellations), removed (drop, frozen) or moved (delay).
	Units float64
	// Evidence is, for drop and frozen, −ln of the probability that the
	// run would see no sale by chance if each day sold with the share of
	// sale days of the evidenceDays days before it (whatever the sizes):
	// Days × −ln(1 − share), the share estimated as (sale days + ½) / (days
	// + 1). No test at a threshold of 10^−s can flag a run with Evidence
	// below s·ln 10 unless demand is more regular than independent days.
	Evidence float64
}

// evidenceDays is the history a run's sale-day share is estimated from.
const evidenceDays = 56

// activeDays is how long after its first sale an item gets its first fault:
// before, no detector knows its rate.
const activeDays = 28

// firstSale is the index of the first positive value of y (len(y) if none).
func firstSale(y []float64) int {
	for i, v := range y {
		if v > 0 {
			return i
		}
	}
	return len(y)
}

// Detectable reports whether a drop or frozen run is improbable at score
// threshold thr even for the plainest model of sale days (Evidence ≥
// thr·ln 10); other faults are always detectable.
func (f Fault) Detectable(thr float64) bool {
	if f.Kind != Drop && f.Kind != Frozen {
		return true
	}
	return f.Evidence >= thr*math.Ln10
}

// evidence computes f.Evidence from the series before the fault.
func evidence(s anomaly.Series, f Fault) float64 {
	var days, sold float64
	for t := max(firstSale(s.Sales), f.Day-evidenceDays); t < f.Day; t++ {
		if v := s.Sales[t]; !math.IsNaN(v) && (s.InStock == nil || s.InStock[t]) {
			days++
			if v > 0 {
				sold++
			}
		}
	}
	share := (sold + 0.5) / (days + 1)
	return -float64(f.Days) * math.Log1p(-share)
}

// Config controls Inject.
type Config struct {
	// From is the first day a fault may start on; no fault reaches past the
	// series' end.
	From int
	// Gap is the range of days from the end of one fault to the start of
	// the next (drawn uniformly).
	Gap [2]int
	// DropDays and FrozenDays are the ranges of run lengths.
	DropDays, FrozenDays [2]int
	// Kinds are the faults drawn from (uniformly); nil: Kinds().
	Kinds []Kind
}

// DefaultConfig plants a fault every 3–5 weeks from day from: drops of 3–10
// days, frozen runs of 21–56 days (either side of anomaly.DefaultPhantomDays
// with a margin).
func DefaultConfig(from int) Config {
	return Config{From: from, Gap: [2]int{21, 35}, DropDays: [2]int{3, 10}, FrozenDays: [2]int{21, 56}}
}

// Background rates added to every series so that shrinkage and cancellation
// tests face normal noise: count corrections on bgLossShare of days of
// 1 + Poisson(bgLossSize × mean sales) units, and each unit sold cancelled
// with probability bgCancelShare (released or expired reservations).
const (
	bgLossShare   = 0.03
	bgLossSize    = 0.05
	bgCancelShare = 0.04
)

// Inject returns a copy of s with background losses and cancellations added
// (unless s has its own) and faults planted from cfg.From on, and the faults.
// Faults start on in-stock days with sales (spikes, delays) or on in-stock
// runs (drops, frozen), at least activeDays days after the first sale, never
// overlap, and are drawn from a generator seeded with (seed, series).
func Inject(s anomaly.Series, seed uint64, series int, cfg Config) (anomaly.Series, []Fault) {
	rng := rand.New(rand.NewPCG(seed, uint64(series)))
	out := copySeries(s)
	mean := meanSales(s.Sales[:min(cfg.From, len(s.Sales))])
	background(rng, &out, mean)
	kinds := cfg.Kinds
	if kinds == nil {
		kinds = Kinds()
	}
	var faults []Fault
	day := max(cfg.From, firstSale(s.Sales)+activeDays) + rng.IntN(cfg.Gap[1]-cfg.Gap[0]+1)
	for day < len(s.Sales) {
		k := kinds[rng.IntN(len(kinds))]
		f, ok := plant(rng, &out, k, day, mean, cfg)
		for try := 1; !ok && try < maxTries && day+try < len(s.Sales); try++ {
			f, ok = plant(rng, &out, k, day+try, mean, cfg)
		}
		if !ok {
			day += maxTries
			continue
		}
		if k == Drop || k == Frozen {
			f.Evidence = evidence(s, f)
		}
		faults = append(faults, f)
		day = f.Day + f.Days + cfg.Gap[0] + rng.IntN(cfg.Gap[1]-cfg.Gap[0]+1)
	}
	return out, faults
}

// maxTries is how many days a fault is tried on before it is given up.
const maxTries = 28

// plant plants a fault of kind k at day, if the days allow it.
func plant(rng *rand.Rand, s *anomaly.Series, k Kind, day int, mean float64, cfg Config) (Fault, bool) {
	f := Fault{Kind: k, Day: day, Days: 1}
	switch k {
	case Drop, Frozen:
		span := cfg.DropDays
		if k == Frozen {
			span = cfg.FrozenDays
		}
		f.Days = span[0] + rng.IntN(span[1]-span[0]+1)
	case Delay:
		f.Days = 2
	}
	if day+f.Days > len(s.Sales) || !inStock(*s, day, day+f.Days) {
		return f, false
	}
	size := math.Max(3, math.Round((1+2*rng.Float64())*mean))
	switch k {
	case Spike:
		if !(s.Sales[day] > 0) {
			return f, false
		}
		f.Units = 9 * s.Sales[day]
		s.Sales[day] *= 10
	case Drop, Frozen:
		for t := day; t < day+f.Days; t++ {
			f.Units += s.Sales[t]
			s.Sales[t] = 0
		}
	case Shrinkage:
		f.Units, s.Loss[day] = size, s.Loss[day]+size
	case Cancellations:
		f.Units, s.Cancelled[day] = size, s.Cancelled[day]+size
	case Delay:
		if !(s.Sales[day] > 0) {
			return f, false
		}
		f.Units = s.Sales[day]
		s.Sales[day+1] += s.Sales[day]
		s.Sales[day] = 0
	}
	return f, true
}

// inStock reports whether days [a, b) are observed and in stock.
func inStock(s anomaly.Series, a, b int) bool {
	for t := a; t < b; t++ {
		if math.IsNaN(s.Sales[t]) || (s.InStock != nil && !s.InStock[t]) {
			return false
		}
	}
	return true
}

// background adds count corrections and cancelled reservations where s has
// none of its own.
func background(rng *rand.Rand, s *anomaly.Series, mean float64) {
	if s.Loss == nil {
		s.Loss = make([]float64, len(s.Sales))
		for t := range s.Loss {
			if rng.Float64() < bgLossShare {
				s.Loss[t] = 1 + distuv.Poisson{Lambda: max(bgLossSize*mean, 1e-9), Src: rng}.Rand()
			}
		}
	}
	if s.Cancelled == nil {
		s.Cancelled = make([]float64, len(s.Sales))
		for t, v := range s.Sales {
			if v > 0 && !math.IsNaN(v) {
				s.Cancelled[t] = distuv.Binomial{N: math.Round(v), P: bgCancelShare, Src: rng}.Rand()
			}
		}
	}
}

func copySeries(s anomaly.Series) anomaly.Series {
	c := func(xs []float64) []float64 {
		if xs == nil {
			return nil
		}
		return append([]float64(nil), xs...)
	}
	out := anomaly.Series{Sales: c(s.Sales), OnHand: c(s.OnHand), Loss: c(s.Loss), Cancelled: c(s.Cancelled)}
	if s.InStock != nil {
		out.InStock = append([]bool(nil), s.InStock...)
	}
	return out
}

// meanSales is the mean of the observed values of y (0 without any).
func meanSales(y []float64) float64 {
	var n, sum float64
	for _, v := range y {
		if !math.IsNaN(v) {
			n, sum = n+1, sum+v
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}
