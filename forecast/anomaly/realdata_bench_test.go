package anomaly_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/forecast"
	"github.com/shardstock/shardstock/forecast/anomaly"
	"github.com/shardstock/shardstock/forecast/anomaly/faults"
	"github.com/shardstock/shardstock/forecast/demandcsv"
	"github.com/shardstock/shardstock/forecast/internal/realdata"
	"github.com/shardstock/shardstock/forecast/synth"
)

// Environment of BenchmarkAnomalyRealData, besides realdata.EnvDir
// (SHARDSTOCK_DEMAND_DIR) for the data directory.
const (
	// EnvDev, when "1", runs the development split used for every design
	// choice instead of the reported one: seed devSeed, and every series
	// cut before the reported days where the set is long enough.
	EnvDev = "SHARDSTOCK_ANOMALY_DEV"
	// EnvThresholds overrides thresholds for development runs, e.g.
	// "spike=4,shrinkage=3.5".
	EnvThresholds = "SHARDSTOCK_ANOMALY_THRESHOLDS"
	// EnvSets limits the run to some sets, e.g. "bakery,m5_spot,synthetic".
	EnvSets = "SHARDSTOCK_ANOMALY_SETS"
)

// Seeds of the reported run and of the development runs.
const (
	reportSeed = 1
	devSeed    = 2
)

// benchSet is one data set of the benchmark: judged are its last days days
// (0: every day after the warm-up).
type benchSet struct {
	name string
	days int
}

var benchSets = []benchSet{{"store_item", 364}, {"bakery", 0}, {"m5_spot", 728}}

// Synthetic series of the benchmark (forecast/synth kinds cycled).
const (
	synthSeries = 400
	synthDays   = 730
)

// BenchmarkAnomalyRealData plants faults in every series of the real sets and
// of a synthetic set and prints recall per fault kind, precision and false
// positives per anomaly kind. Run it once:
//
//	go test ./forecast/anomaly -run '^$' -bench RealData -benchtime 1x
func BenchmarkAnomalyRealData(b *testing.B) {
	dir := realdata.Dir(b)
	seed, dev := uint64(reportSeed), os.Getenv(EnvDev) == "1"
	if dev {
		seed = devSeed
	}
	opts, err := benchOptions()
	if err != nil {
		b.Fatal(err)
	}
	sets := os.Getenv(EnvSets)
	want := func(name string) bool { return sets == "" || strings.Contains(","+sets+",", ","+name+",") }
	for i := 0; i < b.N; i++ {
		all := faults.NewTally()
		for _, set := range benchSets {
			if !want(set.name) {
				continue
			}
			t, byClass, title, err := runFile(realdata.Path(dir, set.name), set, seed, dev, opts)
			if err != nil {
				b.Fatalf("%s: %v", set.name, err)
			}
			printTally(b, t, title)
			printClasses(byClass)
			all.Merge(t)
		}
		printTally(b, all, fmt.Sprintf("all real sets (seed %d)", seed))
		if want("synthetic") {
			t, byKind := runSynthetic(seed, opts)
			printTally(b, t, fmt.Sprintf("synthetic (seed %d, %d × %d, last 364 days judged)", seed, synthSeries, synthDays))
			printClasses(byKind)
		}
	}
}

// benchOptions are the detector's options: the defaults, or thresholds from
// EnvThresholds.
func benchOptions() (anomaly.Options, error) {
	var opts anomaly.Options
	env := os.Getenv(EnvThresholds)
	if env == "" {
		return opts, nil
	}
	opts.Thresholds = map[anomaly.Kind]float64{}
	for _, part := range strings.Split(env, ",") {
		name, value, _ := strings.Cut(part, "=")
		k, err := anomaly.ParseKind(name)
		if err != nil {
			return opts, err
		}
		if opts.Thresholds[k], err = strconv.ParseFloat(value, 64); err != nil {
			return opts, fmt.Errorf("%s: %w", EnvThresholds, err)
		}
	}
	fmt.Printf("thresholds %v\n\n", opts.Thresholds)
	return opts, nil
}

// judge plants faults in s from day from, detects, and tallies.
func judge(s anomaly.Series, seed uint64, idx, from int, opts anomaly.Options) (*faults.Tally, error) {
	t := faults.NewTally()
	if from >= len(s.Sales) {
		return t, nil
	}
	faulty, planted := faults.Inject(s, seed, idx, faults.DefaultConfig(from))
	opts.From = from
	found, err := anomaly.Detect(faulty, opts)
	if err != nil {
		return nil, err
	}
	t.Add(planted, found, from, len(s.Sales))
	return t, nil
}

// classTally is one series' tally and the demand class of its history
// before the judged days.
type classTally struct {
	t     *faults.Tally
	class string
}

// runFile judges every series of a history file, in parallel, and also
// returns the tallies per demand class.
func runFile(path string, set benchSet, seed uint64, dev bool, opts anomaly.Options) (*faults.Tally, map[string]*faults.Tally, string, error) {
	r, f, err := realdata.Open(path)
	if err != nil {
		return nil, nil, "", err
	}
	defer f.Close()
	total, byClass, series := faults.NewTally(), map[string]*faults.Tally{}, 0
	err = demandcsv.Process(context.Background(), r, runtime.GOMAXPROCS(0), func(s demandcsv.Series) (classTally, error) {
		y := s.Demand
		if dev && set.days > 0 {
			y = y[:max(0, len(y)-set.days)]
		}
		from := anomaly.DefaultWarmup
		if set.days > 0 {
			from = max(from, len(y)-set.days)
		}
		t, err := judge(anomaly.Series{Sales: y, InStock: s.InStock}, seed, seriesIndex(s.ID), from, opts)
		return classTally{t, string(forecast.Classify(y[:min(from, len(y))]).Kind)}, err
	}, func(_ demandcsv.Series, ct classTally) error {
		total.Merge(ct.t)
		addClass(byClass, ct.class, ct.t)
		series++
		return nil
	})
	span := "every day after the warm-up"
	if set.days > 0 {
		span = fmt.Sprintf("last %d days", set.days)
		if dev {
			span = fmt.Sprintf("the %d days before the last %d", set.days, set.days)
		}
	}
	return total, byClass, fmt.Sprintf("%s (%d series, %s judged, seed %d)", set.name, series, span, seed), err
}

// addClass merges t into the tally of class.
func addClass(byClass map[string]*faults.Tally, class string, t *faults.Tally) {
	if byClass[class] == nil {
		byClass[class] = faults.NewTally()
	}
	byClass[class].Merge(t)
}

// printClasses prints one line per class, in name order.
func printClasses(byClass map[string]*faults.Tally) {
	names := make([]string, 0, len(byClass))
	for name := range byClass {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("  %s: %s\n", name, byClass[name].Line())
	}
	fmt.Println()
}

// seriesIndex derives a stable number from a series ID for the injector's
// seed.
func seriesIndex(id string) int {
	h := 0
	for _, c := range id {
		h = h*131 + int(c)
		h &= 1<<31 - 1
	}
	return h
}

// runSynthetic judges the last 364 days of generated series and also
// returns the tallies per generated kind.
func runSynthetic(seed uint64, opts anomaly.Options) (*faults.Tally, map[string]*faults.Tally) {
	total, byKind := faults.NewTally(), map[string]*faults.Tally{}
	for i := range synthSeries {
		s := synth.Generate(seed, i, synthDays, 0)
		t, err := judge(anomaly.Series{Sales: s.Demand, InStock: s.InStock}, seed, i, synthDays-364, opts)
		if err != nil {
			panic(err)
		}
		total.Merge(t)
		addClass(byKind, "synth "+s.Kind.String(), t)
	}
	return total, byKind
}

func printTally(b *testing.B, t *faults.Tally, title string) {
	b.Helper()
	if err := t.WriteText(os.Stdout, title); err != nil {
		b.Fatal(err)
	}
	fmt.Println()
}
