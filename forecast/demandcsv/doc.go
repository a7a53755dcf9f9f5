// Package demandcsv streams daily demand in the long CSV form used by
// statsforecast: a header naming at least unique_id, ds (YYYY-MM-DD) and y,
// optionally in_stock (1/0, true/false; empty means in stock); other columns
// such as price are ignored. Rows must be grouped by unique_id (sorted by
// unique_id, then ds); a Reader returns one series at a time so a file of any
// size needs memory for one series only, and it fails with ErrUnsorted when a
// series reappears or its dates go backwards. Dates missing inside a series
// are filled as zero demand or as missing observations (Gaps).
//
// It also writes the forecast form (unique_id,ds,method,mean,q50,q90,q95,q99)
// and the history form, and opens plain or gzip-compressed files alike.
package demandcsv
