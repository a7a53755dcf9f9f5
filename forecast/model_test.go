package forecast

import (
	"math"
	"testing"
)

// The expected values below are worked by hand in the comments.

func TestSESByHand(t *testing.T) {
	// y = 10 12 8 11 9, alpha 0.5, level starts at the mean 10:
	// errors 0, 2, -3, 1.5, -1.25; levels 10, 11, 9.5, 10.25, 9.625.
	y := []float64{10, 12, 8, 11, 9}
	m := &etsModel{spec: etsSpec{false, noSeason}, alpha: 0.5, phi: 1, ok: true}
	sse, n := m.filter(y, -1, 0, nil)
	near(t, "SSE", sse, 0+4+9+2.25+1.5625, 1e-12)
	if n != 5 {
		t.Errorf("observations = %d, want 5", n)
	}
	for k, v := range runModel(t, m, y, 3) {
		near(t, "forecast", v, 9.625, 1e-12)
		_ = k
	}
	st, _ := m.initStates(y)
	near(t, "sumSquares", m.sumSquares(y, st), sse, 1e-12)
}

func TestSESSkipsMissingDays(t *testing.T) {
	// A missing day leaves the level alone: same as the series without it.
	m := &etsModel{spec: etsSpec{false, noSeason}, alpha: 0.5, phi: 1, ok: true}
	with := runModel(t, m, []float64{10, 12, math.NaN(), 8, 11, 9}, 1)[0]
	// Initial level is the mean of the observed days: 10 either way.
	without := runModel(t, m, []float64{10, 12, 8, 11, 9}, 1)[0]
	near(t, "forecast with a missing day", with, without, 1e-12)
}

func TestCrostonAndSBAByHand(t *testing.T) {
	// y = 0 3 0 0 6 0, alpha 0.5. First demand on day 2: size 3, interval
	// 2. Next on day 5, 3 days later: size 3+0.5(6-3) = 4.5, interval
	// 2+0.5(3-2) = 2.5. Croston 4.5/2.5 = 1.8; SBA (1-0.25)·1.8 = 1.35.
	y := []float64{0, 3, 0, 0, 6, 0}
	near(t, "Croston", runModel(t, &crostonModel{alpha: 0.5}, y, 1)[0], 1.8, 1e-12)
	near(t, "SBA", runModel(t, &crostonModel{alpha: 0.5, sba: true}, y, 1)[0], 1.35, 1e-12)
	// A stock-out day (missing) does not lengthen the interval.
	yc := []float64{0, 3, 0, math.NaN(), 0, 6, 0}
	near(t, "Croston with a censored day", runModel(t, &crostonModel{alpha: 0.5}, yc, 1)[0], 1.8, 1e-12)
}

func TestTSBByHand(t *testing.T) {
	// p0 0.5, z0 3, alpha = beta = 0.5, y = 0 2 0 4:
	// p: 0.25, 0.625, 0.3125, 0.65625; z: 3, 2.5, 2.5, 3.25; forecast p·z.
	m := &tsbModel{alpha: 0.5, beta: 0.5, prob0: 0.5, size0: 3}
	near(t, "TSB", runModel(t, m, []float64{0, 2, 0, 4}, 1)[0], 0.65625*3.25, 1e-12)
}

func TestSimpleModelsByHand(t *testing.T) {
	y := []float64{1, 2, 3, 4, 5, 6, 7, 8, math.NaN()}
	tests := []struct {
		name string
		m    model
		want []float64
	}{
		{"naive: last observed", naiveModel{}, []float64{8, 8, 8}},
		// Days 10..12 (indices 9..11) share weekdays with indices 2..4.
		{"seasonal naive", seasonalNaiveModel{}, []float64{3, 4, 5}},
		{"moving average of observed days", movingAverageModel{}, []float64{4.5, 4.5, 4.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runModel(t, tt.m, y, 3)
			for k := range got {
				near(t, "forecast", got[k], tt.want[k], 1e-12)
			}
		})
	}
}

func TestAdditiveSeasonReproducesExactPattern(t *testing.T) {
	// With a perfect weekly pattern and zero smoothing, ETS(A,N,A) forecasts
	// the pattern itself.
	pattern := []float64{5, 7, 9, 11, 13, 20, 25}
	var y []float64
	for range 8 {
		y = append(y, pattern...)
	}
	m := &etsModel{spec: etsSpec{false, addSeason}, alpha: 0, gamma: 0, phi: 1, ok: true}
	got := runModel(t, m, y, 7)
	for k := range got {
		near(t, "forecast", got[k], pattern[k], 1e-9)
	}
}

func TestMAWeeklyFollowsWeekdayProfile(t *testing.T) {
	// 26 weeks of 10 on weekdays and 0 on the last two days: level 50/7,
	// profile (26·10+5)/(26·50/7+5) for the busy days, 5/(26·50/7+5) else.
	var y []float64
	for range 26 {
		y = append(y, 10, 10, 10, 10, 10, 0, 0)
	}
	got := runModel(t, maWeeklyModel{}, y, 7)
	level := 50.0 / 7
	busy := level * (260 + 5) / (26*level + 5)
	idle := level * 5 / (26*level + 5)
	for k, want := range []float64{busy, busy, busy, busy, busy, idle, idle} {
		near(t, "forecast", got[k], want, 1e-9)
	}
}

func TestYearlyFactorsOfAYearlyWave(t *testing.T) {
	// Demand 10 in "summer" (days 100..199 of each 364) and 5 otherwise,
	// for three years: a day in the middle of next summer gets factor
	// 10/(mean of a year) = 10 / ((100·10+264·5)/364).
	var y []float64
	for range 3 {
		for d := range yearDays {
			v := 5.0
			if d >= 100 && d < 200 {
				v = 10
			}
			y = append(y, v)
		}
	}
	f := yearlyFactors(y, 364)
	near(t, "summer factor", f[3*yearDays+150], 10/((100*10+264*5)/364.0), 1e-9)
	near(t, "winter factor", f[3*yearDays+300], 5/((100*10+264*5)/364.0), 1e-9)
	if f[10] != 1 {
		t.Errorf("factor of the first year = %v, want 1 (no past year)", f[10])
	}
}
