package forecast

import "math"

// Moving average × weekday profile: the level is the mean of the last
// maWindow observed days, the profile of weekday d is its demand over the
// last profileDays days relative to the mean, shrunk towards 1 by
// profilePrior units so that a few sales do not make a weekday.
const (
	profileDays  = 182
	profilePrior = 5.0
)

// maWeeklyModel forecasts level × weekday profile.
type maWeeklyModel struct{}

func (maWeeklyModel) fit([]float64) {}

func (maWeeklyModel) run(y []float64, from, h int, fc []float64) {
	n := len(y)
	// ps[i], pc[i]: sum and count of observed values before i; pw[d][i]:
	// sum and count of observed values before i on weekday d (i%7 == d).
	ps, pc := make([]float64, n+1), make([]float64, n+1)
	var pw, pwc [period][]float64
	for d := range period {
		pw[d], pwc[d] = make([]float64, n+1), make([]float64, n+1)
	}
	for i, v := range y {
		ps[i+1], pc[i+1] = ps[i], pc[i]
		for d := range period {
			pw[d][i+1], pwc[d][i+1] = pw[d][i], pwc[d][i]
		}
		if !math.IsNaN(v) {
			ps[i+1] += v
			pc[i+1]++
			pw[i%period][i+1] += v
			pwc[i%period][i+1]++
		}
	}
	var prof [period]float64
	for t := from; t <= n; t++ {
		lo := max(0, t-profileDays)
		cnt := pc[t] - pc[lo]
		mean := 0.0
		if cnt > 0 {
			mean = (ps[t] - ps[lo]) / cnt
		}
		for d := range period {
			sum, c := pw[d][t]-pw[d][lo], pwc[d][t]-pwc[d][lo]
			prof[d] = (sum + profilePrior) / (c*mean + profilePrior)
		}
		level := recentMean(ps, pc, t)
		out := fc[(t-from)*h : (t-from+1)*h]
		for k := range out {
			out[k] = clampForecast(level * prof[(t+k)%period])
		}
	}
}

// recentMean is the mean of the observed values among the last maWindow
// days before t (a window of days, not of observations).
func recentMean(ps, pc []float64, t int) float64 {
	lo := max(0, t-maWindow)
	if c := pc[t] - pc[lo]; c > 0 {
		return (ps[t] - ps[lo]) / c
	}
	return 0
}
