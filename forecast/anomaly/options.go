package anomaly

import "github.com/shardstock/shardstock/forecast"

// Defaults of Options.
const (
	// DefaultWarmup is the fewest days of history before the first day
	// judged, and the fewest days since an item's first sale before its
	// expectations are trusted.
	DefaultWarmup = 56
	// DefaultBlock is how many days one fit forecasts: expectations are
	// refitted every DefaultBlock days on the history before them.
	DefaultBlock = 7
	// DefaultPhantomDays is the shortest improbable run without sales that
	// is phantom_stock rather than demand_drop.
	DefaultPhantomDays = 14
	// MaxBlock bounds Options.Block (forecast.MaxHorizon − 1).
	MaxBlock = forecast.MaxHorizon - 1
)

// defaultThreshold is the score (−log10 of the p-value) at or above which a
// test flags an anomaly, per kind, chosen on the development run of the
// benchmark (docs/ANOMALIES.md).
var defaultThreshold = map[Kind]float64{
	Spike:             3,
	Shrinkage:         3.5,
	PhantomStock:      5,
	DemandDrop:        3.5,
	CancellationBurst: 3.5,
}

// DefaultThreshold returns the default score threshold of kind k.
func DefaultThreshold(k Kind) float64 { return defaultThreshold[k] }

// Options control Detect. The zero value judges every day after
// DefaultWarmup with every kind at its default threshold.
type Options struct {
	// From is the first day judged (an index into Series.Sales); days
	// before it are history only. Values below Warmup are raised to it.
	// Anomalies are reported when they end on or after From (a run without
	// sales that began earlier is judged whole).
	From int
	// Warmup is the fewest days of history before the first day judged
	// (0: DefaultWarmup; at least forecast.MinWindow).
	Warmup int
	// Block is the number of days each fit forecasts (0: DefaultBlock).
	Block int
	// Forecast chooses the method and window of the fits; its Horizon is
	// ignored (Detect sets it from Block).
	Forecast forecast.Options
	// Kinds lists the kinds to report (nil: all).
	Kinds []Kind
	// Thresholds overrides the score threshold of some kinds (a missing
	// kind keeps its default).
	Thresholds map[Kind]float64
	// PhantomDays is the shortest run that is phantom_stock rather than
	// demand_drop (0: DefaultPhantomDays).
	PhantomDays int
}

// settings are validated options with defaults filled in.
type settings struct {
	from, warmup, block, phantomDays int
	fc                               forecast.Options
	want                             map[Kind]bool
	threshold                        map[Kind]float64
}

// withDefaults validates o and fills its defaults.
func (o Options) withDefaults() (settings, error) {
	st := settings{warmup: o.Warmup, block: o.Block, phantomDays: o.PhantomDays, fc: o.Forecast,
		want: map[Kind]bool{}, threshold: map[Kind]float64{}}
	if st.warmup == 0 {
		st.warmup = DefaultWarmup
	}
	if st.block == 0 {
		st.block = DefaultBlock
	}
	if st.phantomDays == 0 {
		st.phantomDays = DefaultPhantomDays
	}
	switch {
	case o.From < 0:
		return st, invalidf("from %d is negative", o.From)
	case st.warmup < forecast.MinWindow:
		return st, invalidf("warmup %d is shorter than %d days", st.warmup, forecast.MinWindow)
	case st.block < 1 || st.block > MaxBlock:
		return st, invalidf("block %d out of range 1..%d", st.block, MaxBlock)
	case st.phantomDays < 2:
		return st, invalidf("phantom days %d: must be at least 2", st.phantomDays)
	}
	st.from = max(o.From, st.warmup)
	m, err := forecast.ParseMethod(string(st.fc.Method))
	if err != nil {
		return st, err
	}
	st.fc.Method = m
	if st.fc.Window != 0 && st.fc.Window < forecast.MinWindow {
		return st, invalidf("forecast window %d is shorter than %d days", st.fc.Window, forecast.MinWindow)
	}
	for _, k := range o.Kinds {
		if _, err := ParseKind(string(k)); err != nil {
			return st, err
		}
		st.want[k] = true
	}
	for _, k := range Kinds() {
		if o.Kinds == nil {
			st.want[k] = true
		}
		st.threshold[k] = defaultThreshold[k]
	}
	for k, v := range o.Thresholds {
		if _, err := ParseKind(string(k)); err != nil {
			return st, err
		}
		if !(v > 0 && v <= MaxScore) {
			return st, invalidf("threshold %v of %s outside (0, %d]", v, k, MaxScore)
		}
		st.threshold[k] = v
	}
	return st, nil
}
