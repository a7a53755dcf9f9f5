// Package forecast predicts daily demand per item and derives stock policies
// from the predicted distribution.
//
// It is pure code, like router: no I/O, no clock, no randomness and no
// imports from the rest of shardstock. Callers hand it a Series (units
// demanded per day, oldest first, with an optional in-stock flag per day) and
// Options, and get back a Forecast: the method chosen and why, the error of
// that choice on the most recent days of the history, the mean demand per day
// for the horizon, per-day quantiles, quantiles of demand summed over a lead
// time, and the reorder point and order-up-to level for a service level.
//
// Days on which the item was out of stock (InStock false) or whose value is
// NaN are missing observations: demand on those days is censored, not zero.
// Every model skips them when it updates its state and when its error is
// measured.
//
// Methods: Naive, SeasonalNaive (weekly), MovingAverage (28 days), MAWeekly
// (moving average × weekday profile), SES, ETS (additive errors; no or damped
// trend; no, additive or multiplicative weekly season; chosen by AIC), the
// two Holt-Winters members of that family
// (HoltWintersAdd, HoltWintersMul), ETSYearly (ETS on demand divided by a
// yearly profile estimated from past years), Croston, SBA and TSB for
// intermittent demand, and Auto. Auto fits every applicable method on the
// history minus its last 56 days, scores each by rolling-origin validation on
// those days (one origin per day, 28-day horizon) and forecasts the mean of the
// best four. Smoothing parameters are fitted with gonum's Nelder-Mead on the
// sum of squared one-step errors; the models then run over the whole window
// with those parameters, so the final forecast starts from current states.
//
// Quantiles are empirical: the model's own h-step errors from every other
// origin of the last 350 days of the window, scaled by the square root of
// their forecast, are added to the mean forecast (per day, averaged over a
// band of neighbouring horizons), and the errors of forecasts summed
// over L days give the lead-time distribution directly, so correlated errors
// widen it as they should (a quantile of a sum is not the sum of quantiles).
// With too few errors a normal approximation with variance max(mean, sample
// variance) stands in. All forecasts and quantiles are ≥ 0 and quantiles are
// non-decreasing in the probability.
//
// No function in this package panics on any input; invalid input (negative
// or infinite demand, mismatched flags, bad options) returns an error wrapping
// ErrInvalid, a history with no observed day returns ErrNoData.
package forecast
