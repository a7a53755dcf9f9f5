package anomaly

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// nbPMF is the negative binomial probability of k, by its definition.
func nbPMF(mu, phi float64, k int) float64 {
	r, p := mu/(phi-1), 1/phi
	lg := func(x float64) float64 { v, _ := math.Lgamma(x); return v }
	return math.Exp(lg(float64(k)+r) - lg(r) - lg(float64(k)+1) + r*math.Log(p) + float64(k)*math.Log(1-p))
}

func TestTailsMatchTheirDefinitions(t *testing.T) {
	for _, c := range []struct{ mu, phi float64 }{{0.3, 1}, {4, 1}, {30, 1}, {0.3, 2.5}, {4, 1.7}, {30, 3}, {0.05, 9}} {
		var cdf float64
		for k := 0; k <= 60; k++ {
			pmf := distuv.Poisson{Lambda: c.mu}.Prob(float64(k))
			if c.phi > 1 {
				pmf = nbPMF(c.mu, c.phi, k)
			}
			if k == 0 && math.Abs(math.Exp(logZero(c.mu, c.phi))-pmf) > 1e-12 {
				t.Errorf("mu %v phi %v: P(0) = %v, want %v", c.mu, c.phi, math.Exp(logZero(c.mu, c.phi)), pmf)
			}
			if up := upperTail(c.mu, c.phi, float64(k)); math.Abs(up-(1-cdf)) > 1e-9 {
				t.Errorf("mu %v phi %v: P(X ≥ %d) = %v, want %v", c.mu, c.phi, k, up, 1-cdf)
			}
			cdf += pmf
			if lo := lowerTail(c.mu, c.phi, float64(k)); math.Abs(lo-cdf) > 1e-9 {
				t.Errorf("mu %v phi %v: P(X ≤ %d) = %v, want %v", c.mu, c.phi, k, lo, cdf)
			}
		}
	}
}

func TestTailsAtTheEdges(t *testing.T) {
	if upperTail(0, 1, 3) != 0 || upperTail(5, 2, 0) != 1 || lowerTail(0, 2, 0) != 1 || lowerTail(5, 1, -1) != 0 {
		t.Fatal("edge values wrong")
	}
	// Far tails stay positive and ordered, so scores stay finite and grow.
	a, b := upperTail(20, 1.2, 200), upperTail(20, 1.2, 400)
	if !(a > 0 && b >= 0 && b < a) || score(b) < score(a) {
		t.Fatalf("far tails %v, %v", a, b)
	}
	if score(0) != MaxScore || score(1) != 0 || score(math.NaN()) != 0 || math.Abs(score(1e-5)-5) > 1e-12 {
		t.Fatal("score mapping wrong")
	}
}
