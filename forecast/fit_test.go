package forecast

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

func TestFitRejectsInvalidInput(t *testing.T) {
	ok := []float64{1, 2, 3}
	tests := []struct {
		name string
		s    Series
		opts Options
		want error
	}{
		{"negative demand", Series{Demand: []float64{1, -1}}, Options{}, ErrInvalid},
		{"infinite demand", Series{Demand: []float64{1, math.Inf(1)}}, Options{}, ErrInvalid},
		{"huge demand", Series{Demand: []float64{2 * MaxDemand}}, Options{}, ErrInvalid},
		{"flags of another length", Series{Demand: ok, InStock: []bool{true}}, Options{}, ErrInvalid},
		{"unknown method", Series{Demand: ok}, Options{Method: "prophet"}, ErrInvalid},
		{"horizon too long", Series{Demand: ok}, Options{Horizon: MaxHorizon + 1}, ErrInvalid},
		{"negative horizon", Series{Demand: ok}, Options{Horizon: -1}, ErrInvalid},
		{"window too short", Series{Demand: ok}, Options{Window: 7}, ErrInvalid},
		{"empty", Series{}, Options{}, ErrNoData},
		{"all missing", Series{Demand: []float64{math.NaN(), math.NaN()}}, Options{}, ErrNoData},
		{"all out of stock", Series{Demand: ok, InStock: []bool{false, false, false}}, Options{}, ErrNoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Fit(tt.s, tt.opts); !errors.Is(err, tt.want) {
				t.Fatalf("Fit error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFitOddSeries(t *testing.T) {
	tests := []struct {
		name     string
		demand   []float64
		wantMean float64 // of day 1, within 1e-9; NaN = not checked
	}{
		{"all zeros", make([]float64, 100), 0},
		{"one point", []float64{4}, 4},
		{"two points", []float64{4, 6}, math.NaN()},
		{"constant", constant(200, 7), 7},
		{"huge values", constant(60, MaxDemand), math.NaN()},
		{"leading zeros then one sale", append(make([]float64, 50), 3), math.NaN()},
		{"gaps", []float64{1, math.NaN(), math.NaN(), 5, math.NaN(), 0, 2}, math.NaN()},
	}
	for _, tt := range tests {
		for _, m := range append(Methods(), Auto) {
			t.Run(tt.name+"/"+string(m), func(t *testing.T) {
				f, err := Fit(Series{Demand: tt.demand}, Options{Method: m})
				if err != nil {
					t.Fatalf("Fit: %v", err)
				}
				checkForecast(t, f)
				if !math.IsNaN(tt.wantMean) && m == Auto {
					near(t, "mean of day 1", f.Mean[0], tt.wantMean, 1e-9*math.Max(1, tt.wantMean))
				}
			})
		}
	}
}

func constant(n int, v float64) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = v
	}
	return y
}

// checkForecast asserts the properties every forecast must have: finite
// non-negative means; per-day quantiles ≥ 0, finite and non-decreasing in p;
// lead-time quantiles non-decreasing in p and in days; policies ordered.
func checkForecast(t *testing.T, f *Forecast) {
	t.Helper()
	ps := []float64{0.05, 0.5, 0.9, 0.95, 0.99}
	table, err := f.Quantiles(ps...)
	if err != nil {
		t.Fatalf("Quantiles: %v", err)
	}
	for d, mean := range f.Mean {
		if !(mean >= 0) || math.IsInf(mean, 0) {
			t.Fatalf("mean of day %d = %v", d+1, mean)
		}
		prev := 0.0
		for i, p := range ps {
			q, err := f.Quantile(d+1, p)
			if err != nil || !(q >= prev) || math.IsInf(q, 0) {
				t.Fatalf("day %d: q%v = %v (err %v) after %v", d+1, p, q, err, prev)
			}
			if math.Abs(q-table[d][i]) > 1e-9*math.Max(1, q) {
				t.Fatalf("day %d: Quantile %v ≠ Quantiles %v", d+1, q, table[d][i])
			}
			prev = q
		}
	}
	prevDays := 0.0
	for days := 0; days <= f.Horizon(); days++ {
		q95, err := f.LeadTimeQuantile(days, 0.95)
		q50, _ := f.LeadTimeQuantile(days, 0.5)
		if err != nil || !(q95 >= q50) || !(q50 >= 0) || !(q95 >= prevDays) || math.IsInf(q95, 0) {
			t.Fatalf("lead time %d: q50 %v q95 %v (err %v), previous %v", days, q50, q95, err, prevDays)
		}
		prevDays = q95
	}
	lead := max(0, min(7, f.Horizon()-1))
	p, err := f.Policy(lead, min(1, f.Horizon()-lead), DefaultServiceLevel)
	if err != nil || p.OrderUpTo < p.ReorderPoint || p.ReorderPoint < 0 || p.SafetyStock < 0 {
		t.Fatalf("Policy = %+v, %v", p, err)
	}
	if !(f.ResidualScale >= 0) {
		t.Fatalf("ResidualScale = %v", f.ResidualScale)
	}
}

func TestForecastPropertiesOnGeneratedSeries(t *testing.T) {
	for i := range 8 { // two of each generated kind
		s, _ := synthSeries(i, 500, 0)
		for _, m := range append(Methods(), Auto) {
			t.Run(fmt.Sprintf("%d/%s", i, m), func(t *testing.T) {
				f, err := Fit(s, Options{Method: m, Horizon: 35})
				if err != nil {
					t.Fatalf("Fit: %v", err)
				}
				checkForecast(t, f)
			})
		}
	}
}

func TestForecastArgumentErrors(t *testing.T) {
	f, err := Fit(Series{Demand: constant(100, 3)}, Options{Horizon: 10})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		err  error
	}{
		{"day 0", second(f.Quantile(0, 0.5))},
		{"day past horizon", second(f.Quantile(11, 0.5))},
		{"p = 1", second(f.Quantile(1, 1))},
		{"p NaN", second(f.Quantile(1, math.NaN()))},
		{"lead time past horizon", second(f.LeadTimeQuantile(11, 0.9))},
		{"negative lead time", second(f.LeadTimeMean(-1))},
	}
	for _, c := range calls {
		if !errors.Is(c.err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", c.name, c.err)
		}
	}
	if _, err := f.Policy(7, 4, 0.95); !errors.Is(err, ErrInvalid) {
		t.Errorf("Policy past horizon: %v, want ErrInvalid", err)
	}
	if _, err := f.Quantiles(0.5, 2); !errors.Is(err, ErrInvalid) {
		t.Errorf("Quantiles(2): %v, want ErrInvalid", err)
	}
}

func second(_ float64, err error) error { return err }

func TestCensoredDaysAreNotZeroDemand(t *testing.T) {
	// Poisson(10) demand; a third of the days the shelf was empty and sold
	// nothing. With the flags the forecast stays near 10; read as zeros it
	// would drop to about 6.7.
	y := make([]float64, 364)
	inStock := make([]bool, len(y))
	p := distuv.Poisson{Lambda: 10, Src: newSource(3)}
	for i := range y {
		inStock[i] = i%3 != 0
		if inStock[i] {
			y[i] = p.Rand()
		}
	}
	for _, m := range []Method{Auto, SES, MovingAverage, TSB, ETS} {
		f, err := Fit(Series{Demand: y, InStock: inStock}, Options{Method: m})
		if err != nil {
			t.Fatal(err)
		}
		near(t, string(m)+" mean with stock-outs flagged", f.MeanDaily(), 10, 1.2)
		g, _ := Fit(Series{Demand: y}, Options{Method: m})
		if g.MeanDaily() > 8 {
			t.Errorf("%s read zeros as demand and still forecast %.2f; the test is not sensitive", m, g.MeanDaily())
		}
	}
}

func TestKnownAnswerPoisson(t *testing.T) {
	// Stationary Poisson(4): day quantiles and the 7-day sum's quantile
	// should match Poisson(4) and Poisson(28) (a sum of independent days).
	y := make([]float64, 728)
	p := distuv.Poisson{Lambda: 4, Src: newSource(11)}
	for i := range y {
		y[i] = p.Rand()
	}
	f, err := Fit(Series{Demand: y}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "mean", f.MeanDaily(), 4, 0.4)
	q95, _ := f.Quantile(3, 0.95)
	near(t, "day q95", q95, 7.5, 1.0) // Poisson(4): P(≤7) = 0.949, P(≤8) = 0.979
	s95, _ := f.LeadTimeQuantile(7, 0.95)
	near(t, "7-day q95", s95, 37, 3.5) // Poisson(28) q95 = 37
	pol, _ := f.Policy(7, 1, 0.95)
	near(t, "order-up-to", pol.OrderUpTo, 41.5, 4) // Poisson(32): q95 = 42
	near(t, "residual scale", f.ResidualScale, 2, 0.5)
}

func TestForecastIsSafeForConcurrentReaders(t *testing.T) {
	s, _ := synthSeries(1, 400, 0)
	ref, err := Fit(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ref.LeadTimeQuantile(8, 0.95)
	f, _ := Fit(s, Options{}) // unsorted errors: the readers race to sort them
	done := make(chan float64)
	for range 4 {
		go func() {
			q, _ := f.LeadTimeQuantile(8, 0.95)
			_, _ = f.Quantile(3, 0.9)
			_, _ = f.Quantiles(0.5, 0.99)
			done <- q
		}()
	}
	for range 4 {
		if q := <-done; q != want {
			t.Errorf("concurrent LeadTimeQuantile = %v, want %v", q, want)
		}
	}
}
