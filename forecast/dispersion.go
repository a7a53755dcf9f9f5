package forecast

// ScaledErrors returns the errors (actual − forecast) of the model's recent
// forecasts made day days ahead (1 = the day after the history; from every
// other origin of the last 350 days of the window), each divided by the
// square root of its forecast, at least a quarter of the window's mean
// demand: the samples Quantile reads for that day. For count-like demand
// their mean square is the variance-to-mean ratio of demand around the
// forecast at that horizon (1 for Poisson), which is what anomaly detection
// needs. The slice is a fresh copy, sorted; nil for a zero forecast or a day
// outside the horizon.
func (f *Forecast) ScaledErrors(day int) []float64 {
	if f.dist == nil || day < 1 || day > len(f.Mean) {
		return nil
	}
	return append([]float64(nil), f.dist.days()[day-1]...)
}
