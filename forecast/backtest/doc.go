// Package backtest judges forecasting methods on held-out days, M5 style: the
// last Horizon days of every series are hidden, each method forecasts them
// from the rest, and the report gives per method MASE and RMSSE (M5's
// scales), bias, the coverage of the 95% quantile, and a base-stock
// simulation over the held-out days (periodic review, lost sales) against a
// static mean·P + z·σ·√P policy.
//
// Like forecast it does no I/O of its own: callers feed it series and print
// the Report.
package backtest
