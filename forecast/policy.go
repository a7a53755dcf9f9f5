package forecast

// DefaultServiceLevel is the service level used when a product sets none.
const DefaultServiceLevel = 0.95

// Policy is a periodic-review inventory policy derived from a forecast, in
// units (float64). Callers converting to whole base units should round
// ReorderPoint and OrderUpTo up, never down, or they lose service.
type Policy struct {
	LeadTime     int     `json:"lead_time_days"`
	Review       int     `json:"review_days"`
	ServiceLevel float64 `json:"service_level"`
	// LeadTimeDemand is the expected demand over the lead time.
	LeadTimeDemand float64 `json:"lead_time_demand"`
	// ReorderPoint is the ServiceLevel-quantile of demand summed over the lead
	// time: reorder when the inventory position falls to it or below.
	ReorderPoint float64 `json:"reorder_point"`
	// SafetyStock is ReorderPoint − LeadTimeDemand (may be 0).
	SafetyStock float64 `json:"safety_stock"`
	// OrderUpTo is the ServiceLevel-quantile of demand summed over lead time
	// plus review period: at each review, order enough to bring the inventory
	// position (on hand + on order − reserved) up to it.
	OrderUpTo float64 `json:"order_up_to"`
}

// Policy derives the reorder point and order-up-to level for a lead time and
// review period in days and a service level in (0, 1) (the probability of
// not running out before the next order arrives). leadTime+review must not
// exceed the horizon.
func (f *Forecast) Policy(leadTime, review int, serviceLevel float64) (Policy, error) {
	if leadTime < 0 || review < 0 {
		return Policy{}, invalidf("lead time %d and review %d must be ≥ 0", leadTime, review)
	}
	if leadTime+review > len(f.Mean) {
		return Policy{}, invalidf("lead time %d + review %d exceed the horizon of %d days", leadTime, review, len(f.Mean))
	}
	p := Policy{LeadTime: leadTime, Review: review, ServiceLevel: serviceLevel}
	var err error
	if p.ReorderPoint, err = f.LeadTimeQuantile(leadTime, serviceLevel); err != nil {
		return Policy{}, err
	}
	if p.OrderUpTo, err = f.LeadTimeQuantile(leadTime+review, serviceLevel); err != nil {
		return Policy{}, err
	}
	p.LeadTimeDemand, _ = f.LeadTimeMean(leadTime)
	p.SafetyStock = max(p.ReorderPoint-p.LeadTimeDemand, 0)
	return p, nil
}
