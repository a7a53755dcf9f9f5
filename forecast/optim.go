package forecast

import (
	"math"

	"gonum.org/v1/gonum/optimize"
)

// minimize runs gonum's Nelder-Mead on f from x0 and returns the best point
// found (x0 itself if the optimiser fails). f must return +Inf, not NaN, for
// points it rejects.
func minimize(f func(x []float64) float64, x0 []float64, maxEvals int) []float64 {
	p := optimize.Problem{Func: func(x []float64) float64 {
		v := f(x)
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}}
	settings := &optimize.Settings{
		FuncEvaluations: maxEvals,
		Converger:       &optimize.FunctionConverge{Absolute: 1e-9, Relative: 1e-5, Iterations: 12},
	}
	res, err := optimize.Minimize(p, x0, settings, &optimize.NelderMead{SimplexSize: 1})
	if res == nil || (err != nil && res.Location.X == nil) || math.IsInf(res.F, 1) {
		return x0
	}
	return res.X
}

// logistic maps the real line onto (0, 1).
func logistic(x float64) float64 {
	return 1 / (1 + math.Exp(-x))
}

// logit is the inverse of logistic on (0, 1).
func logit(p float64) float64 {
	return math.Log(p / (1 - p))
}
