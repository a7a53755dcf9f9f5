package anomaly

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// poissonPhi is the dispersion below which a count is taken as Poisson.
const poissonPhi = 1 + 1e-9

// The count model of a day (or of a sum of days) is a negative binomial with
// mean mu and variance phi·mu: r = mu/(phi−1) successes of probability 1/phi.
// For phi ≤ 1 it is Poisson(mu). Sums of days sharing phi are again of this
// form with the means added, which is what the window tests rely on.
// Non-integer counts (units sold by weight) use the continuous extension of
// the same formulas.

// upperTail returns P(X ≥ x).
func upperTail(mu, phi, x float64) float64 {
	switch {
	case !(x > 0):
		return 1
	case !(mu > 0):
		return 0
	case phi <= poissonPhi:
		return mathext.GammaIncReg(x, mu)
	}
	return mathext.RegIncBeta(x, mu/(phi-1), 1-1/phi)
}

// lowerTail returns P(X ≤ x).
func lowerTail(mu, phi, x float64) float64 {
	switch {
	case x < 0:
		return 0
	case !(mu > 0):
		return 1
	case phi <= poissonPhi:
		return mathext.GammaIncRegComp(x+1, mu)
	}
	return mathext.RegIncBeta(mu/(phi-1), x+1, 1/phi)
}

// logZero returns log P(X = 0): −mu for Poisson, −mu·ln(phi)/(phi−1) for
// the negative binomial.
func logZero(mu, phi float64) float64 {
	if !(mu > 0) {
		return 0
	}
	if phi <= poissonPhi {
		return -mu
	}
	return -mu * math.Log(phi) / (phi - 1)
}
