package backtest

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/shardstock/shardstock/forecast"
)

// Report pools the results of many series.
type Report struct {
	Name    string  `json:"name"`
	Config  Config  `json:"config"`
	Series  int     `json:"series"`
	Skipped int     `json:"skipped"`
	Rows    []Row   `json:"methods"`
	Static  Row     `json:"static_policy"`
	Summary Summary `json:"summary"`

	acc    []rowAcc
	static SimResult
}

// Row is one method's figures; MASE and RMSSE are means over series.
type Row struct {
	Method        string  `json:"method"`
	MASE          float64 `json:"mase"`
	RMSSE         float64 `json:"rmsse"`
	BiasPct       float64 `json:"bias_pct"`  // (Σforecast − Σactual)/Σactual × 100
	Cover95       float64 `json:"cover_q95"` // share of held-out days with actual ≤ q95
	CoverSum      float64 `json:"cover_sum"` // share of series with demand over lead time + review ≤ its quantile
	Service       float64 `json:"service"`   // share of simulated days without lost sales
	FillRate      float64 `json:"fill_rate"` // share of demanded units served
	AvgStock      float64 `json:"avg_stock"` // mean end-of-day units on hand per series
	StockVsStatic float64 `json:"stock_vs_static_pct"`
	Failures      int     `json:"failures"`
}

// Summary compares Auto with the best single method of the list
// (SES, ETS, the Holt-Winters pair, Croston, SBA, TSB, moving average,
// seasonal naive) and with the best of every single method.
type Summary struct {
	BestMASE           string  `json:"best_listed_mase_method"`
	BestRMSSE          string  `json:"best_listed_rmsse_method"`
	AutoVsBestMASEPct  float64 `json:"auto_vs_best_listed_mase_pct"`
	AutoVsBestRMSSEPct float64 `json:"auto_vs_best_listed_rmsse_pct"`
	BestAllMASE        string  `json:"best_any_mase_method"`
	BestAllRMSSE       string  `json:"best_any_rmsse_method"`
	AutoVsAllMASEPct   float64 `json:"auto_vs_best_any_mase_pct"`
	AutoVsAllRMSSEPct  float64 `json:"auto_vs_best_any_rmsse_pct"`
}

type rowAcc struct {
	method      forecast.Method
	mase, rmsse float64
	n, fail     int
	sums        Sums
	stock       SimResult
}

// NewReport returns an empty report for cfg.
func NewReport(name string, cfg Config) *Report {
	r := &Report{Name: name, Config: cfg}
	for _, m := range cfg.methods() {
		r.acc = append(r.acc, rowAcc{method: m})
	}
	return r
}

// Add pools one series' result.
func (r *Report) Add(s SeriesResult) {
	r.Series++
	r.static.add(s.Static)
	for i, m := range s.Methods {
		a := &r.acc[i]
		a.fail += m.Failures
		if m.Failures == 0 && m.Acc.Days > 0 {
			a.mase += m.Acc.MASE
			a.rmsse += m.Acc.RMSSE
			a.n++
		}
		a.sums.Forecast += m.Sums.Forecast
		a.sums.Actual += m.Sums.Actual
		a.sums.Covered += m.Sums.Covered
		a.sums.Scored += m.Sums.Scored
		a.sums.SumCovered += m.Sums.SumCovered
		a.sums.SumScored += m.Sums.SumScored
		a.stock.add(m.Stock)
	}
}

// Finish computes the rows and the summary.
func (r *Report) Finish() {
	r.Static = Row{Method: "static", Service: r.static.CycleService(), FillRate: r.static.FillRate(), AvgStock: r.static.AvgStock()}
	r.Rows = r.Rows[:0]
	for _, a := range r.acc {
		row := Row{Method: string(a.method), MASE: ratio(a.mase, float64(a.n)), RMSSE: ratio(a.rmsse, float64(a.n)),
			BiasPct: 100 * ratio(a.sums.Forecast-a.sums.Actual, a.sums.Actual), Cover95: ratio(float64(a.sums.Covered), float64(a.sums.Scored)),
			CoverSum: ratio(float64(a.sums.SumCovered), float64(a.sums.SumScored)),
			Service:  a.stock.CycleService(), FillRate: a.stock.FillRate(), AvgStock: a.stock.AvgStock(), Failures: a.fail}
		row.StockVsStatic = 100 * ratio(row.AvgStock-r.Static.AvgStock, r.Static.AvgStock)
		r.Rows = append(r.Rows, row)
	}
	r.Summary = r.summary()
}

// listed is the list of single methods Auto must beat.
var listed = map[string]bool{"ses": true, "ets": true, "hw-add": true, "hw-mul": true, "croston": true,
	"sba": true, "tsb": true, "ma": true, "snaive": true}

func (r *Report) summary() Summary {
	var s Summary
	var auto *Row
	bm, br, am, ar := math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Method == string(forecast.Auto) {
			auto = row
			continue
		}
		if listed[row.Method] && row.MASE < bm {
			bm, s.BestMASE = row.MASE, row.Method
		}
		if listed[row.Method] && row.RMSSE < br {
			br, s.BestRMSSE = row.RMSSE, row.Method
		}
		if row.MASE < am {
			am, s.BestAllMASE = row.MASE, row.Method
		}
		if row.RMSSE < ar {
			ar, s.BestAllRMSSE = row.RMSSE, row.Method
		}
	}
	if auto != nil {
		s.AutoVsBestMASEPct = 100 * ratio(auto.MASE-bm, bm)
		s.AutoVsBestRMSSEPct = 100 * ratio(auto.RMSSE-br, br)
		s.AutoVsAllMASEPct = 100 * ratio(auto.MASE-am, am)
		s.AutoVsAllRMSSEPct = 100 * ratio(auto.RMSSE-ar, ar)
	}
	return s
}

// ratio is a/b, or 0 when b is 0 (an undefined figure prints as 0, and
// JSON has no NaN).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// WriteText prints the report as a table.
func (r *Report) WriteText(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "%s: %d series (%d skipped), last %d days held out; policy: lead time %d, review %d, target %.0f%%\n",
		r.Name, r.Series, r.Skipped, c.Horizon, c.LeadTime, c.Review, 100*c.ServiceLevel)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tMASE\tRMSSE\tbias%\tcover q95\tcover sum\tservice\tfill rate\tavg stock\tstock vs static\tfailed\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%+.1f\t%.1f%%\t%.1f%%\t%.1f%%\t%.1f%%\t%.2f\t%+.1f%%\t%d\t\n", row.Method, row.MASE, row.RMSSE,
			row.BiasPct, 100*row.Cover95, 100*row.CoverSum, 100*row.Service, 100*row.FillRate, row.AvgStock, row.StockVsStatic, row.Failures)
	}
	st := r.Static // a policy, not a forecast: no accuracy figures
	fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t%.1f%%\t%.1f%%\t%.2f\t\t\t\n", st.Method, 100*st.Service, 100*st.FillRate, st.AvgStock)
	if err := tw.Flush(); err != nil {
		return err
	}
	s := r.Summary
	_, err := fmt.Fprintf(w, "auto vs best listed single method: MASE %+.1f%% (vs %s), RMSSE %+.1f%% (vs %s); vs best of all: MASE %+.1f%% (vs %s), RMSSE %+.1f%% (vs %s)\n",
		s.AutoVsBestMASEPct, s.BestMASE, s.AutoVsBestRMSSEPct, s.BestRMSSE, s.AutoVsAllMASEPct, s.BestAllMASE, s.AutoVsAllRMSSEPct, s.BestAllRMSSE)
	return err
}
