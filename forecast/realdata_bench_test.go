package forecast_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/shardstock/shardstock/forecast"
	"github.com/shardstock/shardstock/forecast/backtest"
	"github.com/shardstock/shardstock/forecast/demandcsv"
	"github.com/shardstock/shardstock/forecast/internal/realdata"
	"github.com/shardstock/shardstock/forecast/synth"
)

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
	dir := realdata.Dir(b)
	for i := 0; i < b.N; i++ {
		for _, set := range realdata.Sets {
			rep, err := evalFile(realdata.Path(dir, set), set)
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

// evalFile runs the backtest over a history file, series in parallel.
func evalFile(path, name string) (*backtest.Report, error) {
	r, f, err := realdata.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
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
