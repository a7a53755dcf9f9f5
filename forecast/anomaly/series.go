package anomaly

import "math"

// Series is the daily movement history of one item (one SKU), oldest day
// first. Every slice but Sales is optional (nil); a non-nil one has one value
// per day of Sales.
type Series struct {
	// Sales holds the units sold per day (committed sales: demand while in
	// stock). NaN marks a day without an observation; negative or infinite
	// values are invalid.
	Sales []float64
	// InStock, when not nil, is false on days on which nothing was
	// available: their sales are censored, and no test judges them.
	InStock []bool
	// OnHand, when not nil, holds the units the system showed on hand at the
	// end of each day (NaN: unknown). A day ending at zero or below without
	// a sale counts as out of stock; a positive level is the stock a
	// phantom_stock anomaly reports as shown.
	OnHand []float64
	// Loss, when not nil, holds the units removed per day by negative
	// adjustments that no known reason explains (a stock count coming up
	// short, a correction without a cause): the shrinkage candidates, as
	// positive numbers. Leave out adjustments with an explaining reason
	// (damage, expiry, return to vendor). NaN: unknown.
	Loss []float64
	// Cancelled, when not nil, holds the units of reservations released or
	// expired per day (NaN: unknown).
	Cancelled []float64
}

// maxUnits bounds every value, as forecast.MaxDemand does for demand.
const maxUnits = 1e12

// validate checks lengths and values.
func (s Series) validate() error {
	n := len(s.Sales)
	if s.InStock != nil && len(s.InStock) != n {
		return invalidf("series has %d days of sales but %d in-stock flags", n, len(s.InStock))
	}
	for _, c := range []struct {
		name   string
		values []float64
		signed bool
	}{{"sales", s.Sales, false}, {"on-hand", s.OnHand, true}, {"loss", s.Loss, false}, {"cancelled", s.Cancelled, false}} {
		if c.values == nil {
			continue
		}
		if len(c.values) != n {
			return invalidf("series has %d days of sales but %d of %s", n, len(c.values), c.name)
		}
		for i, v := range c.values {
			if math.IsNaN(v) {
				continue
			}
			if v > maxUnits || v < -maxUnits || (!c.signed && v < 0) {
				return invalidf("%s on day %d is %v: must be between %g and %g (NaN for unknown)", c.name, i, v, lowest(c.signed), float64(maxUnits))
			}
		}
	}
	return nil
}

func lowest(signed bool) float64 {
	if signed {
		return -maxUnits
	}
	return 0
}

// observed returns sales with every day that is not judged replaced by NaN:
// missing days, days flagged out of stock, and days that ended with nothing on
// hand and no sale.
func (s Series) observed() []float64 {
	y := make([]float64, len(s.Sales))
	for i, v := range s.Sales {
		if s.InStock != nil && !s.InStock[i] {
			v = math.NaN()
		}
		if s.OnHand != nil && s.OnHand[i] <= 0 && !(v > 0) {
			v = math.NaN()
		}
		y[i] = v
	}
	return y
}

// at returns xs[i], or NaN when xs is nil.
func at(xs []float64, i int) float64 {
	if xs == nil {
		return math.NaN()
	}
	return xs[i]
}
