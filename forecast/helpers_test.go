package forecast

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shardstock/shardstock/forecast/synth"
)

// near fails the test when got differs from want by more than tol.
func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g ± %g", name, got, want, tol)
	}
}

// runModel runs a fitted model over y and returns the forecasts from the
// origin after the last day.
func runModel(t *testing.T, m model, y []float64, h int) []float64 {
	t.Helper()
	fc := make([]float64, h)
	m.run(y, len(y), h, fc)
	return fc
}

// synthSeries returns generated series i of seed 7 as a Series and its true
// means (days of history plus extra days).
func synthSeries(i, days, extra int) (Series, []float64) {
	s := synth.Generate(7, i, days, extra)
	return Series{Demand: s.Demand, InStock: s.InStock}, s.Mean
}

// newSource returns a deterministic random source for tests.
func newSource(seed uint64) *rand.PCG { return rand.NewPCG(seed, seed) }
