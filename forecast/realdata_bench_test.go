package forecast_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shardstock/shardstock/forecast"
	"github.com/shardstock/shardstock/forecast/backtest"
	"github.com/shardstock/shardstock/forecast/demandcsv"
	"github.com/shardstock/shardstock/forecast/synth"
)

// EnvDemandDir names the directory holding the real data sets
// (<set>/history.csv.gz); by default ../shared/data/demand next to the
// repository root.
const EnvDemandDir = "SHARDSTOCK_DEMAND_DIR"

// realSets are the public retail sets evaluated with M5's split.
var realSets = []string{"store_item", "bakery", "m5_spot"}

// Synthetic set of BenchmarkForecastRealData: the same as
// `shardstock forecast generate --series 400 --days 730 --seed 1`.
const (
	synthSeed   = 1
	synthSeries = 400
	synthDays   = 730
)

// BenchmarkForecastRealData prints the eval table (the same as `shardstock
// forecast eval`) of every real data set and of the synthetic set, whose
// table ends with the accuracy of the true means (the best any method can
// do). Run it once:
//
//	go test ./forecast/ -run '^$' -bench ForecastRealData -benchtime 1x
func BenchmarkForecastRealData(b *testing.B) {
	dir := demandDir(b)
	for i := 0; i < b.N; i++ {
		for _, set := range realSets {
			rep, err := evalFile(filepath.Join(dir, set, "history.csv.gz"), set)
			if err != nil {
				b.Fatalf("%s: %v", set, err)
			}
			printReport(b, rep)
		}
		rep, oracle := evalSynthetic()
		printReport(b, rep)
		fmt.Printf("true means: MASE %.4f, RMSSE %.4f\n\n", oracle.MASE, oracle.RMSSE)
	}
}

// demandDir finds the data directory or fails with what to do.
func demandDir(b *testing.B) string {
	b.Helper()
	dir := os.Getenv(EnvDemandDir)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "data", "demand")
	}
	if _, err := os.Stat(filepath.Join(dir, realSets[0], "history.csv.gz")); err != nil {
		b.Fatalf("real demand data not found in %s (%v): set %s to the directory holding store_item/, bakery/ and m5_spot/", dir, err, EnvDemandDir)
	}
	return dir
}

// repoRoot walks up from the working directory to the directory with go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// evalFile runs the backtest over a history file, series in parallel.
func evalFile(path, name string) (*backtest.Report, error) {
	f, err := demandcsv.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := demandcsv.NewReader(f, demandcsv.GapsZero)
	if err != nil {
		return nil, err
	}
	rep := backtest.NewReport(name, backtest.DefaultConfig())
	err = demandcsv.Process(context.Background(), r, runtime.GOMAXPROCS(0), func(s demandcsv.Series) (*backtest.SeriesResult, error) {
		res, err := backtest.EvaluateSeries(forecast.Series{Demand: s.Demand, InStock: s.InStock}, backtest.DefaultConfig())
		if errors.Is(err, backtest.ErrTooShort) {
			return nil, nil
		}
		return &res, err
	}, func(_ demandcsv.Series, res *backtest.SeriesResult) error {
		if res == nil {
			rep.Skipped++
		} else {
			rep.Add(*res)
		}
		return nil
	})
	rep.Finish()
	return rep, err
}

// evalSynthetic runs the backtest over the synthetic set and also scores the
// true means of the held-out days.
func evalSynthetic() (*backtest.Report, forecast.Accuracy) {
	cfg := backtest.DefaultConfig()
	rep := backtest.NewReport(fmt.Sprintf("synthetic (seed %d, %d × %d)", synthSeed, synthSeries, synthDays), cfg)
	var oracle forecast.Accuracy
	for i := range synthSeries {
		s := synth.Generate(synthSeed, i, synthDays, 0)
		res, err := backtest.EvaluateSeries(forecast.Series{Demand: s.Demand, InStock: s.InStock}, cfg)
		if err != nil {
			rep.Skipped++
			continue
		}
		rep.Add(res)
		train, test := forecast.Series{Demand: s.Demand[:synthDays-cfg.Horizon], InStock: s.InStock[:synthDays-cfg.Horizon]},
			forecast.Series{Demand: s.Demand[synthDays-cfg.Horizon:], InStock: s.InStock[synthDays-cfg.Horizon:]}
		a := forecast.Score(train.Observed(), test.Observed(), s.Mean[synthDays-cfg.Horizon:])
		oracle.MASE += a.MASE / synthSeries
		oracle.RMSSE += a.RMSSE / synthSeries
	}
	rep.Finish()
	return rep, oracle
}

func printReport(b *testing.B, rep *backtest.Report) {
	b.Helper()
	if err := rep.WriteText(os.Stdout); err != nil {
		b.Fatal(err)
	}
	fmt.Println()
}
