package anomaly

import "math"

// MaxScore caps a score: a p-value below 1e-300 reads as 300.
const MaxScore = 300

// Anomaly is one finding on one item.
type Anomaly struct {
	// Day is the index (into Series.Sales) of the anomaly's first day.
	Day  int  `json:"day"`
	Kind Kind `json:"kind"`
	// Score is −log10 of the test's p-value (the probability of something
	// at least as extreme under the item's expected behaviour), capped at
	// MaxScore: comparable across kinds; 5 means one chance in 100,000.
	Score float64 `json:"score"`
	// Explanation says in words what was seen and expected.
	Explanation string `json:"explanation"`
	// Numbers are the figures behind the score.
	Numbers Numbers `json:"numbers"`
}

// Numbers are the figures behind an anomaly's score.
type Numbers struct {
	// Days is the number of days the anomaly covers (1 but for runs).
	Days int `json:"days"`
	// Observed and Expected are the units seen and expected over those
	// days: sold for spike, phantom_stock and demand_drop; lost for
	// shrinkage; cancelled for cancellation_burst.
	Observed float64 `json:"observed"`
	Expected float64 `json:"expected"`
	// Dispersion is the variance-to-mean ratio of the count model (1 is
	// Poisson; above it a negative binomial).
	Dispersion float64 `json:"dispersion"`
	// PValue is 10^−Score before the cap: the largest of the p-values the
	// anomaly had to pass.
	PValue float64 `json:"p_value"`
	// WindowObserved and WindowExpected are the sales of the window that
	// rules out a posting delay, the least extreme of those tried: for a
	// spike the day and a neighbour, for a run its edge day and the day
	// beyond it (zero when no neighbour could be judged).
	WindowObserved float64 `json:"window_observed,omitempty"`
	WindowExpected float64 `json:"window_expected,omitempty"`
	// Best is, for spike, the most sold on one day of the history window
	// (days already flagged left out): a spike must exceed it.
	Best float64 `json:"best,omitempty"`
	// Rate is, for shrinkage and cancellation_burst, the item's baseline
	// units per unit sold over its history window.
	Rate float64 `json:"rate,omitempty"`
	// OnHand is, for runs, the last on-hand level the system showed during
	// the run (0 when unknown).
	OnHand float64 `json:"on_hand,omitempty"`
	// Ongoing is true for a run that lasts to the last day of the series.
	Ongoing bool `json:"ongoing,omitempty"`
}

// score turns a p-value into a score in [0, MaxScore].
func score(p float64) float64 {
	if math.IsNaN(p) || p >= 1 {
		return 0
	}
	if p <= 0 {
		return MaxScore
	}
	return math.Min(-math.Log10(p), MaxScore)
}
