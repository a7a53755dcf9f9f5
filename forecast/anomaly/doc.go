// Package anomaly finds anomalies in the daily movements of one item: sales
// spikes (bots, price errors), unexplained losses (shrinkage), phantom stock
// (no sale for far longer than the demand rate allows while stock is
// shown), sudden drops to zero demand while in stock, and bursts of
// cancelled reservations.
//
// It is pure code, like forecast: no I/O, no clock, no randomness. Detect
// judges a Series day by day against the demand expected from forecast.Fit
// on the days before (refitted every Options.Block days: no look-ahead),
// with a negative binomial count model whose dispersion comes from the
// forecast's own recent errors, run-length tests for days without sales,
// and explicit tests that keep a one-day posting delay (a zero, then a
// double) from being flagged. Each Anomaly has a score, −log10 of its
// p-value, comparable across kinds and flagged at one threshold per kind
// (DefaultThreshold), an explanation in words and the numbers behind it.
// docs/ANOMALIES.md gives every formula, the thresholds and a benchmark on
// real data with planted faults (subpackage faults).
package anomaly
