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
	// Running sums and counts of observed values over the last profileDays
	// days (all and per weekday) and over the last maWindow days.
	var wsum, wcnt [period]float64
	var sum, cnt, rsum, rcnt float64
	var prof [period]float64
	for t := 0; t <= len(y); t++ {
		if t >= from {
			mean := 0.0
			if cnt > 0 {
				mean = sum / cnt
			}
			for d := range period {
				prof[d] = (wsum[d] + profilePrior) / (wcnt[d]*mean + profilePrior)
			}
			level := 0.0
			if rcnt > 0 {
				level = rsum / rcnt
			}
			out := fc[(t-from)*h : (t-from+1)*h]
			for k := range out {
				out[k] = clampForecast(level * prof[(t+k)%period])
			}
		}
		if t == len(y) {
			break
		}
		if v := y[t]; !math.IsNaN(v) {
			wsum[t%period] += v
			wcnt[t%period]++
			sum, cnt, rsum, rcnt = sum+v, cnt+1, rsum+v, rcnt+1
		}
		if old := t - profileDays; old >= 0 && !math.IsNaN(y[old]) {
			wsum[old%period] -= y[old]
			wcnt[old%period]--
			sum, cnt = sum-y[old], cnt-1
		}
		if old := t - maWindow; old >= 0 && !math.IsNaN(y[old]) {
			rsum, rcnt = rsum-y[old], rcnt-1
		}
	}
}
