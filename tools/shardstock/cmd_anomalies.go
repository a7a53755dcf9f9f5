package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/forecast"
	"github.com/shardstock/shardstock/forecast/anomaly"
	"github.com/shardstock/shardstock/forecast/demandcsv"
)

// Optional columns of an anomalies history, in the order they are asked of
// the reader.
const (
	colAdjustment = iota // signed units adjusted; negative = removed (shrinkage candidates)
	colCancelled         // units of reservations released or expired
	colOnHand            // units on hand at the end of the day
)

var anomalyColumns = []string{"adjustment", "cancelled", "on_hand"}

func (a *app) anomaliesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "anomalies",
		Short: "Find anomalies in movement histories offline (docs/ANOMALIES.md)",
		Long: `Offline tools on the anomaly detectors (docs/ANOMALIES.md), on the same code the gateway
runs, for any data in the long CSV form of forecast (unique_id,ds,y[,in_stock]) with the
optional columns adjustment, cancelled and on_hand. Files may be gzip-compressed; rows must be
grouped by unique_id and sorted by ds; series are streamed.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(a.anomaliesDetectCommand())
	return cmd
}

// detectFlags are the flags of anomalies detect besides the history's.
type detectFlags struct {
	out, kinds, from, method string
	thresholds               []string
	block                    int
	explain, asJSON          bool
}

func (a *app) anomaliesDetectCommand() *cobra.Command {
	var in historyFlags
	var f detectFlags
	cmd := &cobra.Command{
		Use:   "detect --history FILE.csv[.gz] --out FILE.csv [--kinds spike,...] [--json]",
		Short: "Judge every day of every series and write the anomalies found",
		Long: `Read unique_id,ds,y (units sold) with the optional columns in_stock (0: nothing available, the
day is not judged), adjustment (signed units; a negative value is an unexplained removal, a
shrinkage candidate: leave out adjustments with an explaining reason), cancelled (units of
reservations released or expired) and on_hand (units on hand at the end of the day), and write
one row unique_id,ds,kind,score per anomaly to --out (".gz": compressed; "-": standard output),
sorted by unique_id, ds and kind. ds is an anomaly's first day; score is −log10 of its p-value.
--explain adds the columns days,observed,expected,explanation.
Every day from --from (default: after the 56-day warm-up) is judged against demand forecast on
the days before its block (--block days per fit, no look-ahead). Kinds: spike, shrinkage,
phantom_stock, demand_drop, cancellation_burst. A series with invalid values is skipped with a
warning. Exit code 0 when the file is written, 1 when reading or writing fails, 2 on bad usage.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, from, err := f.options(in.window)
			if err != nil {
				return err
			}
			if err := requireFlag(cmd, "out"); err != nil {
				return err
			}
			r, closer, err := in.open(cmd, anomalyColumns...)
			if err != nil {
				return err
			}
			defer closer.Close()
			defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
			sum, err := a.runDetect(cmd, r, f, opts, from, in.workers)
			if err != nil {
				return err
			}
			return sum.print(a.stdout, a.stderr, f.out == "-", f.asJSON)
		},
	}
	in.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", `anomalies CSV to write ("-" for standard output; required)`)
	fl.StringVar(&f.kinds, "kinds", "", "comma-separated kinds to report (default: all)")
	fl.StringVar(&f.from, "from", "", "first date judged, YYYY-MM-DD (default: every day after the warm-up)")
	fl.StringVar(&f.method, "method", "auto", "forecast method of the expected demand: auto or one of: "+methodNames())
	fl.StringArrayVar(&f.thresholds, "threshold", nil, "score threshold of a kind, e.g. spike=4 (repeatable)")
	fl.IntVar(&f.block, "block", anomaly.DefaultBlock, "days judged per forecast fit")
	fl.BoolVar(&f.explain, "explain", false, "add the columns days,observed,expected,explanation")
	fl.BoolVar(&f.asJSON, "json", false, "print the summary as JSON")
	return cmd
}

// options turns the flags into detector options and the first date judged
// (nil: none given).
func (f detectFlags) options(window int) (anomaly.Options, *demandcsv.Day, error) {
	opts := anomaly.Options{Block: f.block, Thresholds: map[anomaly.Kind]float64{}}
	var err error
	if opts.Kinds, err = anomaly.ParseKinds(f.kinds); err != nil {
		return opts, nil, usagef("--kinds: %v", err)
	}
	if opts.Forecast.Method, err = forecast.ParseMethod(f.method); err != nil {
		return opts, nil, usagef("--method: %v", err)
	}
	opts.Forecast.Window = window
	if f.block < 1 || f.block > anomaly.MaxBlock {
		return opts, nil, usagef("--block must be 1..%d", anomaly.MaxBlock)
	}
	for _, t := range f.thresholds {
		name, value, _ := strings.Cut(t, "=")
		k, err := anomaly.ParseKind(name)
		if err != nil {
			return opts, nil, usagef("--threshold: %v", err)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || !(v > 0 && v <= anomaly.MaxScore) {
			return opts, nil, usagef("--threshold %q: want kind=score with 0 < score ≤ %d", t, anomaly.MaxScore)
		}
		opts.Thresholds[k] = v
	}
	if f.from == "" {
		return opts, nil, nil
	}
	day, err := demandcsv.ParseDay(f.from)
	if err != nil {
		return opts, nil, usagef("--from: %v", err)
	}
	return opts, &day, nil
}

// detectSummary is what `anomalies detect` prints once the file is written.
type detectSummary struct {
	Series   int            `json:"series"`
	Skipped  int            `json:"skipped"`
	Days     int            `json:"days_judged"`
	Found    map[string]int `json:"found"`
	Out      string         `json:"out"`
	Seconds  float64        `json:"seconds"`
	Warnings []string       `json:"warnings"`
}

// print writes the summary to stdout, or to stderr when the anomalies went
// to stdout.
func (s detectSummary) print(stdout, stderr io.Writer, toStdout, asJSON bool) error {
	w := stdout
	if toStdout {
		w = stderr
	}
	if asJSON {
		return writeJSON(w, s)
	}
	total, parts := 0, []string{}
	for _, k := range anomaly.Kinds() {
		total += s.Found[string(k)]
		parts = append(parts, fmt.Sprintf("%s %d", k, s.Found[string(k)]))
	}
	fmt.Fprintf(w, "judged %d series (%d skipped), %d days → %s: %d anomalies (%s) in %.1fs\n",
		s.Series, s.Skipped, s.Days, s.Out, total, strings.Join(parts, ", "), s.Seconds)
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "skipped: %s\n", warn)
	}
	return nil
}

// detectResult is one series' anomalies or the reason it was skipped.
type detectResult struct {
	found []anomaly.Anomaly
	days  int
	skip  error
}

// anomalyRow is one output row before sorting.
type anomalyRow struct {
	id  string
	day demandcsv.Day
	a   anomaly.Anomaly
}

// runDetect streams r through anomaly.Detect and writes the sorted rows.
func (a *app) runDetect(cmd *cobra.Command, r *demandcsv.Reader, f detectFlags, opts anomaly.Options, from *demandcsv.Day, workers int) (detectSummary, error) {
	start := time.Now()
	sum := detectSummary{Out: f.out, Found: map[string]int{}, Warnings: []string{}}
	var rows []anomalyRow
	err := demandcsv.Process(cmd.Context(), r, workers, func(s demandcsv.Series) (detectResult, error) {
		o := opts
		if from != nil {
			o.From = max(0, int(*from-s.Start))
		}
		found, err := anomaly.Detect(movementSeries(s), o)
		if errors.Is(err, forecast.ErrInvalid) {
			return detectResult{skip: err}, nil
		}
		warm := anomaly.DefaultWarmup
		return detectResult{found: found, days: max(0, len(s.Demand)-max(o.From, warm))}, err
	}, func(s demandcsv.Series, res detectResult) error {
		sum.Series++
		if res.skip != nil {
			sum.Skipped++
			sum.Warnings = addWarning(sum.Warnings, s.ID, res.skip)
			return nil
		}
		sum.Days += res.days
		for _, an := range res.found {
			sum.Found[string(an.Kind)]++
			rows = append(rows, anomalyRow{id: s.ID, day: s.Start + demandcsv.Day(an.Day), a: an})
		}
		return nil
	})
	if err == nil {
		err = writeAnomalies(f.out, a.stdout, rows, f.explain)
	}
	sum.Seconds = time.Since(start).Seconds()
	return sum, err
}

// movementSeries turns a history series into the detector's input: a
// negative adjustment is a loss, a positive one is ignored.
func movementSeries(s demandcsv.Series) anomaly.Series {
	ms := anomaly.Series{Sales: s.Demand, InStock: s.InStock}
	if s.Extra == nil {
		return ms
	}
	if adj := s.Extra[colAdjustment]; adj != nil {
		ms.Loss = make([]float64, len(adj))
		for i, v := range adj {
			ms.Loss[i] = math.Max(-v, 0) // NaN stays NaN: unknown
		}
	}
	ms.Cancelled, ms.OnHand = s.Extra[colCancelled], s.Extra[colOnHand]
	return ms
}

// writeAnomalies sorts rows by unique_id, date and kind and writes them.
func writeAnomalies(out string, stdout io.Writer, rows []anomalyRow, explain bool) error {
	rank := map[anomaly.Kind]int{}
	for i, k := range anomaly.Kinds() {
		rank[k] = i
	}
	sort.SliceStable(rows, func(i, j int) bool {
		x, y := rows[i], rows[j]
		if x.id != y.id {
			return x.id < y.id
		}
		if x.day != y.day {
			return x.day < y.day
		}
		return rank[x.a.Kind] < rank[y.a.Kind]
	})
	w, finish, err := createOutput(out, stdout)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	header := []string{"unique_id", "ds", "kind", "score"}
	if explain {
		header = append(header, "days", "observed", "expected", "explanation")
	}
	err = cw.Write(header)
	for i := 0; i < len(rows) && err == nil; i++ {
		r := rows[i]
		rec := []string{r.id, r.day.String(), string(r.a.Kind), strconv.FormatFloat(r.a.Score, 'f', 2, 64)}
		if explain {
			n := r.a.Numbers
			rec = append(rec, strconv.Itoa(n.Days), formatUnits(n.Observed), formatUnits(n.Expected), r.a.Explanation)
		}
		err = cw.Write(rec)
	}
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if cerr := finish(); err == nil {
		err = cerr
	}
	return err
}

// formatUnits writes a number of units with at most 4 decimals.
func formatUnits(v float64) string {
	s := strconv.FormatFloat(v, 'f', 4, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
