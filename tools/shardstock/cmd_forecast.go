package main

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/forecast"
	"github.com/shardstock/shardstock/forecast/backtest"
	"github.com/shardstock/shardstock/forecast/demandcsv"
	"github.com/shardstock/shardstock/forecast/synth"
)

func (a *app) forecastCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "forecast",
		Short: "Forecast daily demand from a CSV history, and judge the methods offline",
		Long: `Offline tools on the forecasting package (docs/FORECASTING.md), for any data in the long CSV
form unique_id,ds,y[,in_stock] (statsforecast's; ds as YYYY-MM-DD; in_stock 0 marks a stock-out
day, whose demand is censored). Files may be gzip-compressed. Rows must be grouped by unique_id
and sorted by ds; series are streamed, so memory does not grow with the number of series.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(a.forecastRunCommand(), a.forecastEvalCommand(), a.forecastGenerateCommand())
	return cmd
}

// historyFlags are the input flags run and eval share.
type historyFlags struct {
	history string
	gaps    string
	window  int
	workers int
}

func (h *historyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&h.history, "history", "", "history CSV (unique_id,ds,y[,in_stock]), plain or gzip (required)")
	cmd.Flags().StringVar(&h.gaps, "gaps", "zero", "dates missing inside a series: zero (no sales) or missing (no observation)")
	cmd.Flags().IntVar(&h.window, "window", forecast.DefaultWindow, "trailing days each model is fitted on")
	cmd.Flags().IntVar(&h.workers, "workers", runtime.GOMAXPROCS(0), "series forecast in parallel")
}

// open validates the flags and opens the history; extra names optional
// numeric columns to read (demandcsv.NewReader).
func (h *historyFlags) open(cmd *cobra.Command, extra ...string) (*demandcsv.Reader, io.Closer, error) {
	if err := requireFlag(cmd, "history"); err != nil {
		return nil, nil, err
	}
	var gaps demandcsv.Gaps
	switch h.gaps {
	case "zero":
		gaps = demandcsv.GapsZero
	case "missing":
		gaps = demandcsv.GapsMissing
	default:
		return nil, nil, usagef("--gaps must be zero or missing, got %q", h.gaps)
	}
	if h.window < forecast.MinWindow {
		return nil, nil, usagef("--window must be at least %d", forecast.MinWindow)
	}
	if h.workers < 1 {
		return nil, nil, usagef("--workers must be at least 1")
	}
	f, err := demandcsv.Open(h.history)
	if err != nil {
		return nil, nil, err
	}
	r, err := demandcsv.NewReader(f, gaps, extra...)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", h.history, err)
	}
	return r, f, nil
}

// createOutput opens path for writing ("-" is w), gzip-compressed when it
// ends in .gz. The returned close function must be called to finish the file.
func createOutput(path string, w io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return w, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, f.Close, nil
	}
	zw := gzip.NewWriter(f)
	return zw, func() error {
		err := zw.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// runSummary is what `forecast run` prints once the file is written.
type runSummary struct {
	Series   int            `json:"series"`
	Rows     int            `json:"rows"`
	Skipped  int            `json:"skipped"`
	Horizon  int            `json:"horizon"`
	Out      string         `json:"out"`
	Members  map[string]int `json:"members"`
	Seconds  float64        `json:"seconds"`
	Warnings []string       `json:"warnings"`
}

// gcPercent is the garbage collector's target while forecasting: every
// series allocates a few hundred kilobytes that die at once while the live
// heap stays small, so collecting four times less often saves CPU for
// little memory.
const gcPercent = 400

// maxWarnings bounds the skipped-series messages kept.
const maxWarnings = 10

// addWarning appends "id: err" to warnings unless maxWarnings are kept.
func addWarning(warnings []string, id string, err error) []string {
	if len(warnings) >= maxWarnings {
		return warnings
	}
	return append(warnings, fmt.Sprintf("%s: %v", id, err))
}

// fitResult is one series' forecast or the reason it was skipped.
type fitResult struct {
	f    *forecast.Forecast
	skip error
}

func (a *app) forecastRunCommand() *cobra.Command {
	var in historyFlags
	var out, method string
	var horizon int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "run --history FILE.csv[.gz] [--horizon 28] [--method auto] [--out FILE.csv]",
		Short: "Forecast every series of a history file: mean and quantiles per day",
		Long: `Fit a method per series on its trailing --window days and write, for each series and each of
the next --horizon days, one row unique_id,ds,method,mean,q50,q90,q95,q99 to --out (".gz" suffix:
compressed; "-": standard output). The method column names the method, for auto with the
averaged members, e.g. auto:hw-mul+snaive+ets-yearly. Series are forecast in parallel
(--workers) and written in input order. A series that cannot be forecast (no observed day,
negative or infinite demand) is skipped with a warning; the summary counts it.
Exit code 0 when the file is written, 1 when reading or writing fails, 2 on bad usage.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := forecast.ParseMethod(method)
			if err != nil {
				return usagef("--method: %v", err)
			}
			if horizon < 1 || horizon > forecast.MaxHorizon {
				return usagef("--horizon must be 1..%d", forecast.MaxHorizon)
			}
			if err := requireFlag(cmd, "out"); err != nil {
				return err
			}
			r, closer, err := in.open(cmd)
			if err != nil {
				return err
			}
			defer closer.Close()
			defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
			sum, err := a.runForecast(cmd, r, out, forecast.Options{Method: m, Horizon: horizon, Window: in.window}, in.workers)
			if err != nil {
				return err
			}
			report := a.stdout
			if out == "-" {
				report = a.stderr
			}
			if asJSON {
				return writeJSON(report, sum)
			}
			fmt.Fprintf(report, "forecast %d series × %d days → %s (%d rows, %d skipped) in %.1fs\n",
				sum.Series, sum.Horizon, sum.Out, sum.Rows, sum.Skipped, sum.Seconds)
			for _, w := range sum.Warnings {
				fmt.Fprintf(report, "skipped: %s\n", w)
			}
			return nil
		},
	}
	in.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", `forecast CSV to write ("-" for standard output; required)`)
	cmd.Flags().StringVar(&method, "method", "auto", "auto or one of: "+methodNames())
	cmd.Flags().IntVar(&horizon, "horizon", forecast.DefaultHorizon, "days to forecast")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return cmd
}

// methodNames lists the single methods for help texts.
func methodNames() string {
	var names []string
	for _, m := range forecast.Methods() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}

// runForecast streams r through Fit and writes the forecast file.
func (a *app) runForecast(cmd *cobra.Command, r *demandcsv.Reader, out string, opts forecast.Options, workers int) (runSummary, error) {
	start := time.Now()
	sum := runSummary{Horizon: opts.Horizon, Out: out, Members: map[string]int{}, Warnings: []string{}}
	w, finish, err := createOutput(out, a.stdout)
	if err != nil {
		return sum, err
	}
	cw := demandcsv.NewWriter(w)
	rows := make([]demandcsv.ForecastRow, opts.Horizon)
	err = cw.Header(demandcsv.ForecastHeader)
	if err == nil {
		err = demandcsv.Process(cmd.Context(), r, workers, func(s demandcsv.Series) (fitResult, error) {
			f, err := forecast.Fit(forecast.Series{Demand: s.Demand, InStock: s.InStock}, opts)
			if err != nil && (errors.Is(err, forecast.ErrInvalid) || errors.Is(err, forecast.ErrNoData)) {
				return fitResult{skip: err}, nil
			}
			return fitResult{f: f}, err
		}, func(s demandcsv.Series, res fitResult) error {
			sum.Series++
			if res.skip != nil {
				sum.Skipped++
				sum.Warnings = addWarning(sum.Warnings, s.ID, res.skip)
				return nil
			}
			label := methodLabel(res.f)
			sum.Members[label]++
			end := s.Start + demandcsv.Day(len(s.Demand))
			qs, err := res.f.Quantiles(0.5, 0.9, 0.95, 0.99)
			if err != nil {
				return err
			}
			for d := range rows {
				rows[d] = demandcsv.ForecastRow{Day: end + demandcsv.Day(d), Method: label, Mean: res.f.Mean[d], Q: [4]float64(qs[d])}
			}
			sum.Rows += len(rows)
			return cw.Forecast(s.ID, rows)
		})
	}
	if err == nil {
		err = cw.Flush()
	}
	if cerr := finish(); err == nil {
		err = cerr
	}
	sum.Seconds = time.Since(start).Seconds()
	return sum, err
}

// methodLabel names what produced a forecast: the method, or for auto its
// members, e.g. "auto:hw-mul+snaive".
func methodLabel(f *forecast.Forecast) string {
	if f.Method != forecast.Auto {
		return string(f.Method)
	}
	names := make([]string, len(f.Members))
	for i, m := range f.Members {
		names[i] = string(m)
	}
	return "auto:" + strings.Join(names, "+")
}

func (a *app) forecastEvalCommand() *cobra.Command {
	var in historyFlags
	var methods, name string
	var asJSON bool
	var excludeLast int
	cfg := backtest.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "eval --history FILE.csv[.gz] [--horizon 28]",
		Short: "Hold out the last days of every series and score every method on them",
		Long: `Hide the last --horizon days of every series (M5's split), forecast them with every method and
auto from the days before, and print per method: MASE and RMSSE (M5's scales: in-sample mean
absolute / squared day-to-day differences from the first sale on; mean over series), bias (sum of
forecasts minus sum of actuals, % of actuals), the share of held-out days at or below the 95%
quantile, and a stock simulation over the held-out days: daily review, lead time --lead-time,
lost sales, order-up-to = the --service quantile of demand over lead time + review. The static
row is the same simulation with mean·P + z·σ·√P (P = lead time + review; mean and σ of the
training window). Service is the share of days without lost sales; fill rate the share of units
served; stock the mean end-of-day units on hand.
--exclude-last N first drops the last N days of every series, a development split that never
sees the real held-out days. Exit code 0 when the report is printed, 1 on a read error.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Horizon < 1 || cfg.Horizon+cfg.LeadTime+cfg.Review > forecast.MaxHorizon || cfg.LeadTime < 0 || cfg.Review < 0 {
				return usagef("--horizon, --lead-time and --review must be ≥ 0 (horizon ≥ 1) and sum to at most %d", forecast.MaxHorizon)
			}
			if !(cfg.ServiceLevel > 0 && cfg.ServiceLevel < 1) {
				return usagef("--service must be in (0, 1)")
			}
			if excludeLast < 0 {
				return usagef("--exclude-last must be ≥ 0")
			}
			ms, err := parseMethods(methods)
			if err != nil {
				return err
			}
			cfg.Methods, cfg.Window = ms, in.window
			r, closer, err := in.open(cmd)
			if err != nil {
				return err
			}
			defer closer.Close()
			defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
			if name == "" {
				name = in.history
			}
			rep, err := evaluate(cmd, r, name, cfg, excludeLast, in.workers)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rep)
			}
			return rep.WriteText(a.stdout)
		},
	}
	in.register(cmd)
	cmd.Flags().IntVar(&cfg.Horizon, "horizon", cfg.Horizon, "days held out at the end of every series")
	cmd.Flags().IntVar(&cfg.LeadTime, "lead-time", cfg.LeadTime, "replenishment lead time in days for the simulation")
	cmd.Flags().IntVar(&cfg.Review, "review", cfg.Review, "review period in days for the simulation")
	cmd.Flags().Float64Var(&cfg.ServiceLevel, "service", cfg.ServiceLevel, "target service level (probability of no stock-out)")
	cmd.Flags().StringVar(&methods, "methods", "", "comma-separated methods to score (default: every method and auto)")
	cmd.Flags().IntVar(&excludeLast, "exclude-last", 0, "drop this many days from the end of every series first (development split)")
	cmd.Flags().StringVar(&name, "name", "", "data set name for the report (default: the file name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// parseMethods parses a comma-separated method list; "" is nil (all).
func parseMethods(s string) ([]forecast.Method, error) {
	if s == "" {
		return nil, nil
	}
	var out []forecast.Method
	for _, part := range strings.Split(s, ",") {
		m, err := forecast.ParseMethod(part)
		if err != nil {
			return nil, usagef("--methods: %v", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// evaluate streams r through backtest.EvaluateSeries and pools the results.
func evaluate(cmd *cobra.Command, r *demandcsv.Reader, name string, cfg backtest.Config, excludeLast, workers int) (*backtest.Report, error) {
	rep := backtest.NewReport(name, cfg)
	err := demandcsv.Process(cmd.Context(), r, workers, func(s demandcsv.Series) (*backtest.SeriesResult, error) {
		n := max(len(s.Demand)-excludeLast, 0)
		fs := forecast.Series{Demand: s.Demand[:n]}
		if s.InStock != nil {
			fs.InStock = s.InStock[:n]
		}
		res, err := backtest.EvaluateSeries(fs, cfg)
		if errors.Is(err, backtest.ErrTooShort) {
			return nil, nil
		}
		return &res, err
	}, func(_ demandcsv.Series, res *backtest.SeriesResult) error {
		if res == nil {
			rep.Skipped++
			return nil
		}
		rep.Add(*res)
		return nil
	})
	rep.Finish()
	return rep, err
}

func (a *app) forecastGenerateCommand() *cobra.Command {
	var series, days int
	var seed uint64
	var out, start string
	cmd := &cobra.Command{
		Use:   "generate --out FILE.csv[.gz] [--series 30000] [--days 2000] [--seed 1]",
		Short: "Write synthetic demand with known answers (for benchmarks and tests)",
		Long: `Write --series series of --days days in the history form unique_id,ds,y,in_stock, cycling
through four kinds: smooth (Poisson around a weekly profile, yearly wave and trend), intermittent,
lumpy, and smooth with stock-outs (in_stock 0, nothing sold). The output depends only on --seed.
Exit code 0 when written, 1 on a write error.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag(cmd, "out"); err != nil {
				return err
			}
			if series < 1 || days < 1 || days > demandcsv.MaxSeriesDays {
				return usagef("--series must be ≥ 1 and --days 1..%d", demandcsv.MaxSeriesDays)
			}
			first, err := demandcsv.ParseDay(start)
			if err != nil {
				return usagef("--start: %v", err)
			}
			w, finish, err := createOutput(out, a.stdout)
			if err != nil {
				return err
			}
			cw := demandcsv.NewWriter(w)
			err = cw.Header("unique_id,ds,y,in_stock")
			for i := 0; i < series && err == nil; i++ {
				s := synth.Generate(seed, i, days, 0)
				err = cw.History(demandcsv.Series{ID: s.ID, Start: first, Demand: s.Demand, InStock: s.InStock})
			}
			if err == nil {
				err = cw.Flush()
			}
			if cerr := finish(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if out != "-" {
				fmt.Fprintf(a.stdout, "wrote %d series × %d days to %s\n", series, days, out)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&series, "series", 30000, "number of series")
	cmd.Flags().IntVar(&days, "days", 2000, "days per series")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	cmd.Flags().StringVar(&out, "out", "", `file to write (".gz": compressed; "-": standard output; required)`)
	cmd.Flags().StringVar(&start, "start", "2020-01-01", "date of the first day")
	return cmd
}
