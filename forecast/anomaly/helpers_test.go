package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// Test series: testDays days, judged from testFrom on.
const (
	testDays = 480
	testFrom = 364
)

// weekly is the weekday profile of the smooth test series.
var weekly = [7]float64{0.8, 0.9, 1, 1, 1.1, 1.3, 0.9}

// smooth returns Poisson sales around base × weekly profile, drawn with seed.
func smooth(seed uint64, base float64) []float64 { return poisson(seed, base, weekly) }

// flat returns Poisson(base) sales drawn with seed.
func flat(seed uint64, base float64) []float64 {
	return poisson(seed, base, [7]float64{1, 1, 1, 1, 1, 1, 1})
}

func poisson(seed uint64, base float64, profile [7]float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	y := make([]float64, testDays)
	for t := range y {
		y[t] = distuv.Poisson{Lambda: base * profile[t%7], Src: rng}.Rand()
	}
	return y
}

// intermittent returns sales on a share p of days of 1 + Poisson(size).
func intermittent(seed uint64, p, size float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	y := make([]float64, testDays)
	for t := range y {
		if rng.Float64() < p {
			y[t] = 1 + distuv.Poisson{Lambda: size, Src: rng}.Rand()
		}
	}
	return y
}

// filled returns n copies of v.
func filled(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// detect runs Detect from testFrom with opts and fails the test on error.
func detect(t *testing.T, s Series, opts Options) []Anomaly {
	t.Helper()
	if opts.From == 0 {
		opts.From = testFrom
	}
	found, err := Detect(s, opts)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	checkAnomalies(t, s, opts, found)
	return found
}

// checkAnomalies checks the properties every result must have.
func checkAnomalies(t *testing.T, s Series, opts Options, found []Anomaly) {
	t.Helper()
	st, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range found {
		switch {
		case !st.want[a.Kind]:
			t.Errorf("anomaly %d: kind %q not asked for", i, a.Kind)
		case a.Day < 0 || a.Numbers.Days < 1 || a.Day+a.Numbers.Days > len(s.Sales):
			t.Errorf("anomaly %d: days %d+%d outside the series of %d", i, a.Day, a.Numbers.Days, len(s.Sales))
		case a.Day+a.Numbers.Days-1 < st.from:
			t.Errorf("anomaly %d ends before From %d", i, st.from)
		case math.IsNaN(a.Score) || a.Score < st.threshold[a.Kind] || a.Score > MaxScore:
			t.Errorf("anomaly %d: score %v outside [%v, %d]", i, a.Score, st.threshold[a.Kind], MaxScore)
		case a.Explanation == "":
			t.Errorf("anomaly %d has no explanation", i)
		case !finite(a.Numbers.Observed, a.Numbers.Expected, a.Numbers.Dispersion, a.Numbers.PValue) || a.Numbers.Dispersion < 1:
			t.Errorf("anomaly %d: numbers %+v", i, a.Numbers)
		case i > 0 && found[i-1].Day > a.Day:
			t.Errorf("anomalies out of order at %d", i)
		}
	}
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// only fails unless found holds exactly one anomaly, of kind k starting on
// day, and returns it.
func only(t *testing.T, found []Anomaly, k Kind, day int) Anomaly {
	t.Helper()
	if len(found) != 1 || found[0].Kind != k || found[0].Day != day {
		t.Fatalf("found %s, want one %s on day %d", describe(found), k, day)
	}
	return found[0]
}

// describe lists anomalies briefly for failure messages.
func describe(found []Anomaly) string {
	s := "["
	for i, a := range found {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%s@%d: %s", a.Kind, a.Day, a.Explanation)
	}
	return s + "]"
}
