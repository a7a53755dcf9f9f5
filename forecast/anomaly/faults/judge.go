package faults

import "github.com/shardstock/shardstock/forecast/anomaly"

// What counts as a hit:
//   - spike, shrinkage, cancellations: an anomaly of the wanted kind whose
//     first day is within one day of the fault's day;
//   - drop, frozen: an anomaly of the wanted kind whose days overlap the
//     fault's run (a run flagged as the other run kind is a miss of its
//     kind, counted apart as a run found under the wrong name);
//   - delay (harmless): flagged when a sales anomaly (spike, demand_drop,
//     phantom_stock) starts within a day of its zero day or its double day
//     (a run that began earlier and merely ends in the zero day was there
//     before the delay).
// An anomaly that hits no fault is a false positive; it is on a clean day
// when it touches no fault's days (± one day) at all.

// Tally counts the outcome of one or more series.
type Tally struct {
	Faults map[Kind]int // planted
	Hits   map[Kind]int // found as the wanted kind
	// RunSwaps counts drop and frozen faults found only as the other run
	// kind.
	RunSwaps map[Kind]int
	// Big and BigHits count the drop and frozen faults that are
	// detectable in principle at the default threshold (Fault.Detectable)
	// and their hits.
	Big, BigHits map[Kind]int
	Found        map[anomaly.Kind]int // anomalies reported
	True         map[anomaly.Kind]int // anomalies that hit a fault of their kind
	FalseClean   map[anomaly.Kind]int // false positives on clean days
	CleanDays    int                  // judged days no fault touches (± one day)
	Days         int                  // judged days
}

// principleThreshold is the score Fault.Detectable is judged at: the
// default threshold of the run kinds.
const principleThreshold = 5

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{Faults: map[Kind]int{}, Hits: map[Kind]int{}, RunSwaps: map[Kind]int{}, Big: map[Kind]int{},
		BigHits: map[Kind]int{}, Found: map[anomaly.Kind]int{}, True: map[anomaly.Kind]int{}, FalseClean: map[anomaly.Kind]int{}}
}

// Add scores the anomalies found on one series whose days [from, days) were
// judged against the faults planted in it.
func (t *Tally) Add(faults []Fault, found []anomaly.Anomaly, from, days int) {
	touched := make([]bool, days+1)
	for _, f := range faults {
		for d := max(0, f.Day-1); d <= min(days-1, f.Day+f.Days); d++ {
			touched[d] = true
		}
	}
	for d := from; d < days; d++ {
		t.Days++
		if !touched[d] {
			t.CleanDays++
		}
	}
	hit := make([]bool, len(found))
	for _, f := range faults {
		t.Faults[f.Kind]++
		big := (f.Kind == Drop || f.Kind == Frozen) && f.Detectable(principleThreshold)
		if big {
			t.Big[f.Kind]++
		}
		if t.score(f, found, hit) && big {
			t.BigHits[f.Kind]++
		}
	}
	for i, a := range found {
		t.Found[a.Kind]++
		if hit[i] {
			t.True[a.Kind]++
			continue
		}
		clean := true
		for d := a.Day; d < a.Day+max(a.Numbers.Days, 1) && d < days; d++ {
			clean = clean && !touched[d]
		}
		if clean {
			t.FalseClean[a.Kind]++
		}
	}
}

// score marks the anomalies that hit f and reports whether f was hit.
func (t *Tally) score(f Fault, found []anomaly.Anomaly, hit []bool) bool {
	want, harmful := f.Kind.Want()
	got, swapped := false, false
	for i, a := range found {
		if !harmful {
			if isSales(a.Kind) && a.Day >= f.Day-1 && a.Day <= f.Day+f.Days-1 {
				got = true
			}
			continue
		}
		near := overlaps(a, f.Day, f.Day+f.Days-1)
		if f.Days == 1 {
			near = a.Day >= f.Day-1 && a.Day <= f.Day+1
		}
		switch {
		case near && a.Kind == want:
			hit[i], got = true, true
		case near && isRun(a.Kind) && isRun(want):
			swapped = true
		}
	}
	if got {
		t.Hits[f.Kind]++
	} else if swapped {
		t.RunSwaps[f.Kind]++
	}
	return got
}

// overlaps reports whether a's days meet [first, last].
func overlaps(a anomaly.Anomaly, first, last int) bool {
	return a.Day <= last && a.Day+max(a.Numbers.Days, 1)-1 >= first
}

func isRun(k anomaly.Kind) bool { return k == anomaly.DemandDrop || k == anomaly.PhantomStock }

func isSales(k anomaly.Kind) bool { return k == anomaly.Spike || isRun(k) }

// Merge adds o's counts to t.
func (t *Tally) Merge(o *Tally) {
	for _, p := range []struct{ dst, src map[Kind]int }{{t.Faults, o.Faults}, {t.Hits, o.Hits}, {t.RunSwaps, o.RunSwaps}, {t.Big, o.Big}, {t.BigHits, o.BigHits}} {
		for k, v := range p.src {
			p.dst[k] += v
		}
	}
	for _, p := range []struct{ dst, src map[anomaly.Kind]int }{{t.Found, o.Found}, {t.True, o.True}, {t.FalseClean, o.FalseClean}} {
		for k, v := range p.src {
			p.dst[k] += v
		}
	}
	t.CleanDays += o.CleanDays
	t.Days += o.Days
}
