package backtest

import "math"

// SimResult is the outcome of a stock simulation.
type SimResult struct {
	Days         int     // days simulated
	StockoutDays int     // days on which some demand was lost
	Demand, Sold float64 // units demanded and served
	StockSum     float64 // sum of end-of-day stock on hand
}

// add accumulates o into r.
func (r *SimResult) add(o SimResult) {
	r.Days += o.Days
	r.StockoutDays += o.StockoutDays
	r.Demand += o.Demand
	r.Sold += o.Sold
	r.StockSum += o.StockSum
}

// CycleService is the fraction of days without lost sales (0 without days).
func (r SimResult) CycleService() float64 {
	if r.Days == 0 {
		return 0
	}
	return 1 - float64(r.StockoutDays)/float64(r.Days)
}

// FillRate is the fraction of demanded units served.
func (r SimResult) FillRate() float64 {
	if r.Demand == 0 {
		return 1
	}
	return r.Sold / r.Demand
}

// AvgStock is the mean end-of-day stock on hand (0 without days).
func (r SimResult) AvgStock() float64 {
	if r.Days == 0 {
		return 0
	}
	return r.StockSum / float64(r.Days)
}

// SimulateBaseStock runs an order-up-to policy with daily review and lost
// sales over demand (NaN days count as no demand). Each morning the order
// placed leadTime+1 evenings ago arrives; the day's demand is served from
// stock (what cannot be served is lost); each evening an order raises the
// inventory position (on hand + on order) to upTo, so upTo must cover
// leadTime + 1 days of demand. recent holds the demand of the days before the
// simulation (the last leadTime+1 of them are the orders still in the
// pipeline, as a base-stock policy replenishes what was sold) and the stock
// on hand starts at upTo minus that pipeline, at least 0.
func SimulateBaseStock(demand []float64, upTo float64, leadTime int, recent []float64) SimResult {
	leadTime = max(leadTime, 0)
	upTo = math.Max(upTo, 0)
	arrive := make([]float64, len(demand)+leadTime+1)
	onOrder := 0.0
	for j := 0; j <= leadTime; j++ {
		if i := len(recent) - (leadTime + 1) + j; i >= 0 && recent[i] > 0 {
			arrive[j] = recent[i]
			onOrder += recent[i]
		}
	}
	onHand := math.Max(upTo-onOrder, 0)
	var r SimResult
	for t, d := range demand {
		onHand += arrive[t]
		onOrder -= arrive[t]
		if !(d > 0) {
			d = 0
		}
		sold := math.Min(onHand, d)
		onHand -= sold
		r.Days++
		r.Demand += d
		r.Sold += sold
		if d-sold > 1e-9 {
			r.StockoutDays++
		}
		r.StockSum += onHand
		if q := upTo - onHand - onOrder; q > 0 {
			arrive[t+leadTime+1] += q
			onOrder += q
		}
	}
	return r
}
