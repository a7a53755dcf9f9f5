package anomaly

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/shardstock/shardstock/forecast"
)

func TestCleanSeriesGiveNoAnomalies(t *testing.T) {
	for _, tt := range []struct {
		name  string
		sales []float64
	}{
		{"smooth Poisson(40) with a weekly profile", smooth(1, 40)},
		{"smooth Poisson(3)", smooth(2, 3)},
		{"intermittent, 30% of days", intermittent(3, 0.3, 1)},
		{"intermittent, 8% of days", intermittent(4, 0.08, 2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if found := detect(t, Series{Sales: tt.sales}, Options{}); len(found) != 0 {
				t.Fatalf("clean series flagged: %s", describe(found))
			}
		})
	}
}

func TestEveryKindIsFoundOnAPlantedFault(t *testing.T) {
	base := smooth(5, 40)
	cancelled := make([]float64, testDays)
	for i, v := range base {
		cancelled[i] = math.Round(0.05 * v)
	}
	loss := make([]float64, testDays)
	for i := 0; i < testDays; i += 37 {
		loss[i] = 1
	}
	tests := []struct {
		name   string
		plant  func(s *Series)
		kind   Kind
		day    int
		detail string
	}{
		{"×10 spike", func(s *Series) { s.Sales[400] *= 10 }, Spike, 400, "not a posting delay"},
		{"five days without sales", func(s *Series) { copy(s.Sales[400:], filled(5, 0)) }, DemandDrop, 400, "no sale for 5 days"},
		{"thirty days without sales", func(s *Series) { copy(s.Sales[400:], filled(30, 0)) }, PhantomStock, 400, "stock record is probably wrong"},
		{"unexplained loss of two days' sales", func(s *Series) { s.Loss[410] = 80 }, Shrinkage, 410, "lost 80 units"},
		{"burst of cancellations", func(s *Series) { s.Cancelled[420] = 60 }, CancellationBurst, 420, "reservations of 60 units"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Series{Sales: append([]float64(nil), base...), Loss: append([]float64(nil), loss...),
				Cancelled: append([]float64(nil), cancelled...)}
			tt.plant(&s)
			a := only(t, detect(t, s, Options{}), tt.kind, tt.day)
			if !strings.Contains(a.Explanation, tt.detail) {
				t.Errorf("explanation %q lacks %q", a.Explanation, tt.detail)
			}
		})
	}
}

func TestPostingDelayIsNotFlagged(t *testing.T) {
	base := flat(6, 150)
	delayed := append([]float64(nil), base...)
	delayed[401] += delayed[400]
	delayed[400] = 0
	if found := detect(t, Series{Sales: delayed}, Options{}); len(found) != 0 {
		t.Fatalf("posting delay flagged: %s", describe(found))
	}
	// The same zero without the double, and the same double without the
	// zero, are anomalies (the double beats the best two days of the year).
	zero := append([]float64(nil), base...)
	zero[400] = 0
	only(t, detect(t, Series{Sales: zero}, Options{}), DemandDrop, 400)
	double := append([]float64(nil), base...)
	double[401] += double[400]
	only(t, detect(t, Series{Sales: double}, Options{}), Spike, 401)
}

func TestZeroRunsFollowTheWeeklyProfile(t *testing.T) {
	// An item sold only at weekends: five quiet weekdays are normal, a quiet
	// weekend is not. A detector on the overall mean (over 8 a day) would
	// flag every working week.
	sales := smooth(7, 1)
	for t := range sales {
		if t%7 >= 5 {
			sales[t] = 25 + sales[t]
		} else {
			sales[t] = 0
		}
	}
	if found := detect(t, Series{Sales: sales}, Options{}); len(found) != 0 {
		t.Fatalf("weekday pauses flagged: %s", describe(found))
	}
	sales[397], sales[398] = 0, 0 // days 397 and 398 are a weekend (397 % 7 == 5)
	a := only(t, detect(t, Series{Sales: sales}, Options{}), DemandDrop, 392)
	if a.Numbers.Days != 12 {
		t.Errorf("run of %d days, want the 12 quiet days 392..403", a.Numbers.Days)
	}
}

func TestStockOutsAreNotJudged(t *testing.T) {
	sales := smooth(8, 30)
	inStock := make([]bool, testDays)
	onHand := filled(testDays, 100)
	for i := range inStock {
		inStock[i] = true
	}
	for i := 400; i < 430; i++ {
		sales[i], inStock[i] = 0, false
	}
	if found := detect(t, Series{Sales: sales, InStock: inStock}, Options{}); len(found) != 0 {
		t.Fatalf("stock-out flagged: %s", describe(found))
	}
	for i := 400; i < 430; i++ {
		onHand[i] = 0
	}
	if found := detect(t, Series{Sales: sales, OnHand: onHand}, Options{}); len(found) != 0 {
		t.Fatalf("days ending with nothing on hand flagged: %s", describe(found))
	}
	copy(onHand[400:], filled(30, 12))
	a := only(t, detect(t, Series{Sales: sales, OnHand: onHand}, Options{}), PhantomStock, 400)
	if a.Numbers.OnHand != 12 || !strings.Contains(a.Explanation, "showed 12 on hand") {
		t.Errorf("on hand %v, explanation %q", a.Numbers.OnHand, a.Explanation)
	}
}

func TestOptionsChooseKindsThresholdsAndDays(t *testing.T) {
	sales := smooth(9, 40)
	sales[380] *= 10
	copy(sales[420:], filled(5, 0))
	all := detect(t, Series{Sales: sales}, Options{})
	if len(all) != 2 || all[0].Kind != Spike || all[1].Kind != DemandDrop {
		t.Fatalf("found %s", describe(all))
	}
	only(t, detect(t, Series{Sales: sales}, Options{Kinds: []Kind{DemandDrop}}), DemandDrop, 420)
	only(t, detect(t, Series{Sales: sales}, Options{From: 400}), DemandDrop, 420)
	strict := detect(t, Series{Sales: sales}, Options{Thresholds: map[Kind]float64{DemandDrop: MaxScore}})
	only(t, strict, Spike, 380)
	// A run that began before From is judged whole and reported.
	only(t, detect(t, Series{Sales: sales}, Options{From: 422}), DemandDrop, 420)
	if found := detect(t, Series{Sales: sales}, Options{From: 430}); len(found) != 0 {
		t.Fatalf("anomalies before From reported: %s", describe(found))
	}
	weekly := detect(t, Series{Sales: sales}, Options{Block: 28, Forecast: forecast.Options{Method: forecast.MAWeekly, Window: 182}})
	if len(weekly) != 2 {
		t.Fatalf("with other fits, found %s", describe(weekly))
	}
}

func TestInvalidInputIsRejected(t *testing.T) {
	good := smooth(10, 5)
	tests := []struct {
		name string
		s    Series
		opts Options
	}{
		{"negative sales", Series{Sales: []float64{1, -1}}, Options{}},
		{"infinite sales", Series{Sales: []float64{math.Inf(1)}}, Options{}},
		{"flags of the wrong length", Series{Sales: good, InStock: []bool{true}}, Options{}},
		{"loss of the wrong length", Series{Sales: good, Loss: []float64{1}}, Options{}},
		{"negative cancellations", Series{Sales: []float64{1}, Cancelled: []float64{-3}}, Options{}},
		{"huge on hand", Series{Sales: []float64{1}, OnHand: []float64{-2e12}}, Options{}},
		{"negative from", Series{Sales: good}, Options{From: -1}},
		{"short warm-up", Series{Sales: good}, Options{Warmup: 10}},
		{"block too long", Series{Sales: good}, Options{Block: MaxBlock + 1}},
		{"phantom days 1", Series{Sales: good}, Options{PhantomDays: 1}},
		{"unknown kind", Series{Sales: good}, Options{Kinds: []Kind{"theft"}}},
		{"threshold of an unknown kind", Series{Sales: good}, Options{Thresholds: map[Kind]float64{"x": 3}}},
		{"zero threshold", Series{Sales: good}, Options{Thresholds: map[Kind]float64{Spike: 0}}},
		{"unknown method", Series{Sales: good}, Options{Forecast: forecast.Options{Method: "magic"}}},
		{"short window", Series{Sales: good}, Options{Forecast: forecast.Options{Window: 7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Detect(tt.s, tt.opts); !errors.Is(err, forecast.ErrInvalid) {
				t.Fatalf("error %v, want one wrapping forecast.ErrInvalid", err)
			}
		})
	}
}

func TestShortAndEmptySeriesGiveNothing(t *testing.T) {
	for _, sales := range [][]float64{nil, {}, {3}, filled(50, 4), filled(200, 0), filled(200, math.NaN())} {
		found, err := Detect(Series{Sales: sales}, Options{})
		if err != nil || len(found) != 0 {
			t.Fatalf("%d days: %s, %v", len(sales), describe(found), err)
		}
	}
}

func TestDetectIsDeterministicAndSafeForConcurrentUse(t *testing.T) {
	sales := smooth(11, 20)
	sales[390] *= 10
	s := Series{Sales: sales}
	want := detect(t, s, Options{})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := Detect(s, Options{From: testFrom})
			if err != nil || describe(got) != describe(want) {
				errs <- describe(got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent run differs: %s, want %s", e, describe(want))
	}
}

func TestParseKinds(t *testing.T) {
	ks, err := ParseKinds(" Spike,phantom_stock ")
	if err != nil || len(ks) != 2 || ks[0] != Spike || ks[1] != PhantomStock {
		t.Fatalf("%v, %v", ks, err)
	}
	if ks, err := ParseKinds(""); ks != nil || err != nil {
		t.Fatalf("empty list: %v, %v", ks, err)
	}
	if _, err := ParseKinds("spike,bogus"); !errors.Is(err, forecast.ErrInvalid) {
		t.Fatalf("bogus kind: %v", err)
	}
	for _, k := range Kinds() {
		if DefaultThreshold(k) <= 0 {
			t.Errorf("%s has no default threshold", k)
		}
	}
}
