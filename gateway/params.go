package gateway

import (
	"slices"
	"strconv"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Query parameters shared by the listings, reports and event pages.

// listing are the query parameters of a paged scatter-gather listing.
type listing struct {
	partial  bool
	statuses []inventory.AlertStatus // only where ?status is accepted
	limit    int
	filter   shard.ReportFilter
}

// listingParams reads a listing's parameters in one order, the first problem winning: unknown
// or repeated names (names are those accepted besides partial), ?partial, ?status (where
// accepted), ?limit, ?category.
func listingParams(r *request, names ...string) (listing, error) {
	var l listing
	var err error
	if l.partial, err = reportParams(r, names...); err != nil {
		return l, err
	}
	if slices.Contains(names, "status") {
		if l.statuses, err = alertStatusParam(r); err != nil {
			return l, err
		}
	}
	if l.limit, err = limitParam(r); err != nil {
		return l, err
	}
	l.filter, err = categoryParam(r)
	return l, err
}

// reportParams rejects query parameters the report does not know (422 validation_failed) and
// reads ?partial. Every report accepts partial; extra lists the others it accepts.
func reportParams(r *request, extra ...string) (bool, error) {
	if err := queryParams(r, append(extra, "partial")...); err != nil {
		return false, err
	}
	return partialParam(r)
}

// queryParams rejects (422 validation_failed) a query parameter that is not among allowed, then
// one that is given more than once.
func queryParams(r *request, allowed ...string) error {
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			return inventory.Validation(name, "unknown query parameter %q", name)
		}
	}
	for name, vs := range r.URL.Query() {
		if len(vs) > 1 {
			return inventory.Validation(name, "query parameter %q is given more than once", name)
		}
	}
	return nil
}

// limitParam reads ?limit (default 50, 1-1000).
func limitParam(r *request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" && !r.URL.Query().Has("limit") {
		return defaultReportLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxReportLimit {
		return 0, inventory.Validation("limit", "limit must be an integer from 1 to %d, got %q", maxReportLimit, v)
	}
	return n, nil
}

// categoryParam reads ?category. When the parameter is present the report is restricted to
// that category, even when it is empty (products without a category).
func categoryParam(r *request) (shard.ReportFilter, error) {
	if !r.URL.Query().Has("category") {
		return shard.ReportFilter{}, nil
	}
	c := r.URL.Query().Get("category")
	if err := checkText("category", c, 0, 128); err != nil {
		return shard.ReportFilter{}, err
	}
	return shard.ReportFilter{Category: &c}, nil
}

// partialParam reads ?partial=true|false (422 validation_failed for anything else).
func partialParam(r *request) (bool, error) {
	switch v := r.URL.Query().Get("partial"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, inventory.Validation("partial", "partial must be true or false, got %q", v)
	}
}

// alertStatusParam reads ?status: open, acknowledged or resolved; without it, the active
// alerts (open and acknowledged).
func alertStatusParam(r *request) ([]inventory.AlertStatus, error) {
	if !r.URL.Query().Has("status") {
		return []inventory.AlertStatus{inventory.AlertOpen, inventory.AlertAcknowledged}, nil
	}
	switch v := inventory.AlertStatus(r.URL.Query().Get("status")); v {
	case inventory.AlertOpen, inventory.AlertAcknowledged, inventory.AlertResolved:
		return []inventory.AlertStatus{v}, nil
	default:
		return nil, inventory.Validation("status", "status must be open, acknowledged or resolved, got %q", v)
	}
}
