package faults

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/forecast/anomaly"
)

// series returns a smooth series of n days selling 10 + day%3 units.
func series(n int) anomaly.Series {
	s := anomaly.Series{Sales: make([]float64, n)}
	for i := range s.Sales {
		s.Sales[i] = float64(10 + i%3)
	}
	return s
}

func TestInjectIsDeterministicAndLeavesTheInputAlone(t *testing.T) {
	in := series(400)
	orig := append([]float64(nil), in.Sales...)
	a, fa := Inject(in, 1, 7, DefaultConfig(100))
	b, fb := Inject(in, 1, 7, DefaultConfig(100))
	if !reflect.DeepEqual(fa, fb) || !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different faults")
	}
	if _, fc := Inject(in, 2, 7, DefaultConfig(100)); reflect.DeepEqual(fa, fc) {
		t.Fatal("another seed gave the same faults")
	}
	if !reflect.DeepEqual(in.Sales, orig) || in.Loss != nil || in.Cancelled != nil {
		t.Fatal("Inject changed its input")
	}
	if len(fa) < 6 {
		t.Fatalf("only %d faults in 300 days", len(fa))
	}
}

func TestFaultsChangeWhatTheySay(t *testing.T) {
	in := series(3000)
	out, faults := Inject(in, 3, 1, DefaultConfig(100))
	seen := map[Kind]bool{}
	last := -1
	for _, f := range faults {
		seen[f.Kind] = true
		if f.Day <= last || f.Day < 100 || f.Day+f.Days > len(in.Sales) {
			t.Fatalf("fault %+v overlaps the previous one or leaves the range", f)
		}
		last = f.Day + f.Days - 1
		d := f.Day
		switch f.Kind {
		case Spike:
			if out.Sales[d] != 10*in.Sales[d] || f.Units != 9*in.Sales[d] {
				t.Errorf("spike %+v: %v → %v", f, in.Sales[d], out.Sales[d])
			}
		case Drop, Frozen:
			span := DefaultConfig(0).DropDays
			if f.Kind == Frozen {
				span = DefaultConfig(0).FrozenDays
			}
			if f.Days < span[0] || f.Days > span[1] || sum(out.Sales[d:d+f.Days]) != 0 || f.Units != sum(in.Sales[d:d+f.Days]) {
				t.Errorf("run %+v wrong", f)
			}
			if !f.Detectable(5) || math.Abs(f.Evidence-float64(f.Days)*math.Log(57*2)) > 1e-9 {
				t.Errorf("run %+v: evidence of a series selling every day", f)
			}
		case Delay:
			if out.Sales[d] != 0 || out.Sales[d+1] != in.Sales[d]+in.Sales[d+1] {
				t.Errorf("delay %+v wrong", f)
			}
		case Shrinkage, Cancellations:
			if f.Units < 3 {
				t.Errorf("%+v too small", f)
			}
		}
	}
	if len(seen) != len(Kinds()) {
		t.Fatalf("kinds planted: %v", seen)
	}
	if math.Abs(sum(out.Sales)-sum(in.Sales)-plantedSales(faults)) > 1e-9 {
		t.Fatal("sales changed by more than the faults")
	}
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, v := range xs {
		s += v
	}
	return s
}

// plantedSales is the change of total sales the faults made.
func plantedSales(faults []Fault) float64 {
	d := 0.0
	for _, f := range faults {
		switch f.Kind {
		case Spike:
			d += f.Units
		case Drop, Frozen:
			d -= f.Units
		}
	}
	return d
}

func TestTallyCountsHitsMissesAndFalseAlarms(t *testing.T) {
	faults := []Fault{
		{Kind: Spike, Day: 10, Days: 1},
		{Kind: Drop, Day: 20, Days: 4, Units: 40, Evidence: 20},
		{Kind: Frozen, Day: 40, Days: 20, Units: 200, Evidence: 90},
		{Kind: Delay, Day: 70, Days: 2},
		{Kind: Shrinkage, Day: 80, Days: 1},
	}
	found := []anomaly.Anomaly{
		{Day: 11, Kind: anomaly.Spike, Numbers: anomaly.Numbers{Days: 1}},         // hit, a day late
		{Day: 19, Kind: anomaly.PhantomStock, Numbers: anomaly.Numbers{Days: 16}}, // the drop, under the wrong name
		{Day: 45, Kind: anomaly.PhantomStock, Numbers: anomaly.Numbers{Days: 15}}, // hit inside the run
		{Day: 71, Kind: anomaly.Spike, Numbers: anomaly.Numbers{Days: 1}},         // the delay flagged
		{Day: 90, Kind: anomaly.Spike, Numbers: anomaly.Numbers{Days: 1}},         // false, on a clean day
	}
	tl := NewTally()
	tl.Add(faults, found, 5, 100)
	want := map[Kind]int{Spike: 1, Frozen: 1, Delay: 1}
	if !reflect.DeepEqual(tl.Hits, want) || tl.RunSwaps[Drop] != 1 || tl.Big[Drop] != 1 || tl.BigHits[Frozen] != 1 {
		t.Fatalf("hits %v, swaps %v, big %v/%v", tl.Hits, tl.RunSwaps, tl.BigHits, tl.Big)
	}
	if tl.True[anomaly.Spike] != 1 || tl.True[anomaly.PhantomStock] != 1 || tl.FalseClean[anomaly.Spike] != 1 ||
		tl.Found[anomaly.Spike] != 3 || tl.FalseClean[anomaly.PhantomStock] != 0 {
		t.Fatalf("true %v, false clean %v", tl.True, tl.FalseClean)
	}
	// Touched days: 9..11, 19..24, 39..60, 69..72, 79..81 = 3+6+22+4+3.
	if tl.Days != 95 || tl.CleanDays != 95-38 {
		t.Fatalf("days %d, clean %d", tl.Days, tl.CleanDays)
	}
	all := NewTally()
	all.Merge(tl)
	all.Merge(tl)
	if all.Hits[Spike] != 2 || all.CleanDays != 2*tl.CleanDays {
		t.Fatal("Merge does not add")
	}
	var buf bytes.Buffer
	if err := all.WriteText(&buf, "test"); err != nil || !strings.Contains(buf.String(), "delay (harmless)") {
		t.Fatalf("report %q, %v", buf.String(), err)
	}
}
