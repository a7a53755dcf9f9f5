package forecast

import (
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

func TestScaledErrorsOfPoissonDemandHaveUnitMeanSquare(t *testing.T) {
	rng := rand.New(newSource(5))
	y := make([]float64, 500)
	for i := range y {
		y[i] = distuv.Poisson{Lambda: 20, Src: rng}.Rand()
	}
	f, err := Fit(Series{Demand: y}, Options{Method: MovingAverage, Horizon: 7})
	if err != nil {
		t.Fatal(err)
	}
	for day := 1; day <= 7; day++ {
		e := f.ScaledErrors(day)
		if len(e) < 100 || !sort.Float64sAreSorted(e) {
			t.Fatalf("day %d: %d errors, sorted %v", day, len(e), sort.Float64sAreSorted(e))
		}
		ms := 0.0
		for _, v := range e {
			ms += v * v / float64(len(e))
		}
		// Poisson: variance = mean, so (y − f)/√f has mean square about 1
		// (a little more: the moving average's own error).
		near(t, "mean square", ms, 1.05, 0.3)
		e[0] = 1e9 // a copy: the forecast keeps its own
	}
	if e := f.ScaledErrors(1); e[0] == 1e9 {
		t.Fatal("ScaledErrors returned the forecast's own slice")
	}
	if f.ScaledErrors(0) != nil || f.ScaledErrors(8) != nil {
		t.Fatal("errors outside the horizon")
	}
	zero, _ := Fit(Series{Demand: make([]float64, 60)}, Options{})
	if zero.ScaledErrors(1) != nil {
		t.Fatal("a zero forecast has errors")
	}
}
