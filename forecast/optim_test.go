package forecast

import (
	"math"
	"testing"
)

func TestMinimizeFindsQuadraticMinimum(t *testing.T) {
	evals := 0
	x := minimize(func(x []float64) float64 {
		evals++
		return (x[0]-1)*(x[0]-1) + 2*(x[1]+2)*(x[1]+2)
	}, []float64{0, 0}, 400)
	if math.Abs(x[0]-1) > 0.05 || math.Abs(x[1]+2) > 0.05 {
		t.Fatalf("minimum at %v, want (1, -2)", x)
	}
	if evals > 400 {
		t.Fatalf("%d evaluations, limit 400", evals)
	}
}

func TestMinimizeRejectsNaN(t *testing.T) {
	x := minimize(func([]float64) float64 { return math.NaN() }, []float64{0.5}, 50)
	if len(x) != 1 || x[0] != 0.5 {
		t.Fatalf("got %v, want the start point", x)
	}
}

func BenchmarkMinimizeOverhead(b *testing.B) {
	evals := 0
	for i := 0; i < b.N; i++ {
		minimize(func(x []float64) float64 {
			evals++
			return (x[0]-1)*(x[0]-1) + (x[1]-2)*(x[1]-2) + x[2]*x[2]
		}, []float64{0, 0, 0}, 100)
	}
	b.ReportMetric(float64(evals)/float64(b.N), "evals/op")
}
