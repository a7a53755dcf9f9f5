package backtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/forecast"
	"github.com/shardstock/shardstock/forecast/synth"
)

func TestSimulateBaseStockByHand(t *testing.T) {
	// Lead time 1: an order placed in the evening of day t arrives on the
	// morning of day t+2. Order-up-to 10; the two days before sold 3 and 4,
	// so 7 units are on order and 3 on hand at the start.
	//   day 0: +3 arrives → 6, demand 5 → 1 left, order 10-1-4 = 5
	//   day 1: +4 → 5, demand 6 → 1 lost, 0 left, order 10-0-5 = 5
	//   day 2: +5 → 5, demand 2 → 3, order 10-3-5 = 2
	//   day 3: +5 → 8, demand 0 → 8, order 10-8-2 = 0
	r := SimulateBaseStock([]float64{5, 6, 2, 0}, 10, 1, []float64{9, 3, 4})
	want := SimResult{Days: 4, StockoutDays: 1, Demand: 13, Sold: 12, StockSum: 1 + 0 + 3 + 8}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if got := r.CycleService(); got != 0.75 {
		t.Errorf("cycle service = %v, want 0.75", got)
	}
	if got := r.FillRate(); math.Abs(got-12.0/13) > 1e-12 {
		t.Errorf("fill rate = %v, want 12/13", got)
	}
	if got := r.AvgStock(); got != 3 {
		t.Errorf("average stock = %v, want 3", got)
	}
}

func TestSimulateBaseStockOddInput(t *testing.T) {
	tests := []struct {
		name   string
		demand []float64
		upTo   float64
		lead   int
		recent []float64
	}{
		{"no days", nil, 5, 7, nil},
		{"negative up-to and lead", []float64{1, 2}, -3, -1, nil},
		{"missing demand", []float64{math.NaN(), 1}, 2, 2, []float64{math.NaN()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := SimulateBaseStock(tt.demand, tt.upTo, tt.lead, tt.recent)
			if r.Days != len(tt.demand) || r.Sold > r.Demand || r.StockSum < 0 {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestEvaluateSeriesAndReport(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Methods = []forecast.Method{forecast.SeasonalNaive, forecast.SES, forecast.Auto}
	rep := NewReport("synthetic", cfg)
	for i := range 8 {
		s := synth.Generate(5, i, 400, 0)
		res, err := EvaluateSeries(forecast.Series{Demand: s.Demand, InStock: s.InStock}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Methods) != 3 {
			t.Fatalf("%d method results, want 3", len(res.Methods))
		}
		rep.Add(res)
	}
	if _, err := EvaluateSeries(forecast.Series{Demand: make([]float64, 30)}, cfg); !errors.Is(err, ErrTooShort) {
		t.Fatalf("short series: %v, want ErrTooShort", err)
	}
	rep.Finish()
	if rep.Series != 8 || len(rep.Rows) != 3 || rep.Rows[2].Method != "auto" {
		t.Fatalf("report %+v", rep)
	}
	for _, row := range rep.Rows {
		if !(row.MASE > 0) || !(row.RMSSE > 0) || row.Cover95 < 0.5 || row.Cover95 > 1 || row.Service <= 0 || row.Failures != 0 {
			t.Errorf("implausible row %+v", row)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "auto vs best listed single method") {
		t.Fatalf("text report %q, %v", text.String(), err)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("JSON: %v", err)
	}
}

func TestReportWithoutSeriesIsZero(t *testing.T) {
	rep := NewReport("empty", DefaultConfig())
	rep.Finish()
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("JSON of an empty report: %v", err)
	}
	for _, row := range rep.Rows {
		if row.MASE != 0 || row.Service != 0 {
			t.Fatalf("row %+v, want zeros", row)
		}
	}
}
