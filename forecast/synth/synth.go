// Package synth generates daily demand series whose true distribution is
// known, for tests, benchmarks and the `shardstock forecast generate` tool.
// Output depends only on the seed: the same seed gives the same series on
// every machine.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// Kind is the demand pattern of a generated series.
type Kind int

// The kinds, cycled through by Generate.
const (
	// Smooth is Poisson demand with a weekly profile, a yearly wave and a
	// slow trend; mean 5..100 a day.
	Smooth Kind = iota
	// Intermittent is demand on 10..50% of days, sizes 1 + Poisson(0.5..3).
	Intermittent
	// Lumpy is demand on 3..15% of days with geometric sizes (mean 2..20).
	Lumpy
	// Censored is Smooth with stock-outs: runs of 2..10 days without stock
	// (in-stock flag false, sales 0) about twice a quarter.
	Censored
	kinds
)

func (k Kind) String() string {
	return [...]string{"smooth", "intermittent", "lumpy", "censored"}[k]
}

// Series is one generated series.
type Series struct {
	ID   string
	Kind Kind
	// Demand is what was sold per day (0 on out-of-stock days).
	Demand []float64
	// InStock is false on out-of-stock days (all true except for Censored).
	InStock []bool
	// Mean is the true expected demand of every day, including the days after
	// Demand when Generate was asked for extra days.
	Mean []float64
}

// Generate returns series number i (0-based) of a set made with seed: days
// of history, extra further days of Mean only. The kind cycles with i.
func Generate(seed uint64, i, days, extra int) Series {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	k := Kind(i % int(kinds))
	s := Series{ID: fmt.Sprintf("syn%06d", i), Kind: k, Demand: make([]float64, days), InStock: make([]bool, days),
		Mean: make([]float64, days+extra)}
	switch k {
	case Smooth, Censored:
		smooth(rng, s.Mean)
		for t := range s.Demand {
			s.Demand[t] = distuv.Poisson{Lambda: s.Mean[t], Src: rng}.Rand()
		}
	case Intermittent:
		p, size := 0.1+0.4*rng.Float64(), 0.5+2.5*rng.Float64()
		fill(s.Mean, p*(1+size))
		for t := range s.Demand {
			if rng.Float64() < p {
				s.Demand[t] = 1 + distuv.Poisson{Lambda: size, Src: rng}.Rand()
			}
		}
	case Lumpy:
		p, size := 0.03+0.12*rng.Float64(), 2+18*rng.Float64()
		fill(s.Mean, p*size)
		for t := range s.Demand {
			if rng.Float64() < p {
				s.Demand[t] = 1 + math.Floor(math.Log(1-rng.Float64())/math.Log(1-1/size))
			}
		}
	}
	for t := range s.InStock {
		s.InStock[t] = true
	}
	if k == Censored {
		stockouts(rng, s.Demand, s.InStock)
	}
	return s
}

// smooth fills mean with base × weekday factor × yearly wave × trend.
func smooth(rng *rand.Rand, mean []float64) {
	base := 5 + 95*rng.Float64()
	var week [7]float64
	for d := range week {
		week[d] = 0.7 + 0.6*rng.Float64()
	}
	amp, phase := 0.3*rng.Float64(), 2*math.Pi*rng.Float64()
	trend := (rng.Float64() - 0.5) * 0.4 / 365 // ±20% a year
	for t := range mean {
		yearly := 1 + amp*math.Sin(2*math.Pi*float64(t)/365.25+phase)
		mean[t] = base * week[t%7] * yearly * math.Max(1+trend*float64(t), 0.2)
	}
}

// stockouts blanks runs of days: in-stock false, nothing sold.
func stockouts(rng *rand.Rand, demand []float64, inStock []bool) {
	for t := 0; t < len(demand); t++ {
		if rng.Float64() < 2.0/91 {
			run := 2 + rng.IntN(9)
			for j := t; j < min(t+run, len(demand)); j++ {
				inStock[j], demand[j] = false, 0
			}
			t += run
		}
	}
}

func fill(xs []float64, v float64) {
	for i := range xs {
		xs[i] = v
	}
}
