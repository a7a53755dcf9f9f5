package forecast

import (
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Stopping rule of minimize: stop after maxEvals evaluations, or when the
// best value has not improved by more than stallAbs + stallRel×|best| in
// stallIters iterations (gonum's FunctionConverge rule).
const (
	stallAbs   = 1e-9
	stallRel   = 1e-3
	stallIters = 6
)

// minimize runs gonum's Nelder-Mead on f from x0 and returns the best point
// found (x0 if f is not finite there). f must return +Inf, not NaN, for
// points it rejects.
//
// It drives the method through gonum's optimize.Method protocol directly
// instead of optimize.Minimize: Minimize routes every evaluation through
// four goroutines, which cost more than the evaluation itself (2.5 µs
// against 1 µs for a year of ETS) when a series needs hundreds of them.
func minimize(f func(x []float64) float64, x0 []float64, maxEvals int) []float64 {
	eval := func(x []float64) float64 {
		if v := f(x); !math.IsNaN(v) {
			return v
		}
		return math.Inf(1)
	}
	nm := &optimize.NelderMead{SimplexSize: 1}
	nm.Init(len(x0), 1)
	ops := make(chan optimize.Task)
	results := make(chan optimize.Task)
	start := optimize.Task{Op: optimize.NoOperation, Location: &optimize.Location{X: append([]float64(nil), x0...)}}
	go nm.Run(ops, results, []optimize.Task{start})
	best, bestX := math.Inf(1), x0
	evals, stall, stopped := 0, 0, false
	for t := range ops { // the method closes ops when it has finished
		if stopped {
			continue
		}
		switch {
		case t.Op == optimize.MethodDone:
			stopped = true
		case t.Op&optimize.FuncEvaluation != 0:
			t.F = eval(t.X)
			if evals++; evals >= maxEvals {
				if t.F < best {
					best, bestX = t.F, append(bestX[:0:0], t.X...)
				}
				stopped = true
			}
		case t.Op == optimize.MajorIteration:
			if t.F < best-stallAbs-stallRel*math.Abs(best) || math.IsInf(best, 1) {
				stall = 0
			} else {
				stall++
			}
			if t.F < best {
				best, bestX = t.F, append(bestX[:0:0], t.X...)
			}
			stopped = stall >= stallIters || evals >= maxEvals
		}
		if stopped {
			t.Op = optimize.PostIteration
			results <- t
			close(results)
			continue
		}
		results <- t
	}
	return bestX
}

// logistic maps the real line onto (0, 1).
func logistic(x float64) float64 {
	return 1 / (1 + math.Exp(-x))
}

// logit is the inverse of logistic on (0, 1).
func logit(p float64) float64 {
	return math.Log(p / (1 - p))
}
