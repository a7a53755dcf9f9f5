package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Report is the outcome of Run. It is JSON-serialisable as is.
type Report struct {
	Scenario        string  `json:"scenario"`
	Target          string  `json:"target,omitempty"`
	Concurrency     int     `json:"concurrency"`
	DurationSeconds float64 `json:"duration_seconds"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	Settle          string  `json:"settle,omitempty"` // commit or release, for scenarios that reserve
	Products        int     `json:"products"`         // SKUs the scenario draws from

	Setup   *SetupReport `json:"setup,omitempty"`
	Gateway *Result      `json:"gateway,omitempty"`
	Direct  *Result      `json:"direct,omitempty"`
	// GatewayToDirect is Gateway.OKOpsPerSec / Direct.OKOpsPerSec when both ran.
	GatewayToDirect *float64 `json:"gateway_to_direct,omitempty"`
	Notes           []string `json:"notes,omitempty"`
}

// SetupReport describes the catalogue setup.
type SetupReport struct {
	Products int     `json:"products"` // SKUs checked
	Present  int     `json:"present"`  // already there with enough stock: left alone
	Created  int     `json:"created"`  // products created
	Stocked  int     `json:"stocked"`  // stock levels set
	Seconds  float64 `json:"seconds"`
}

// Result is one measured run, against the gateway (mode "gateway") or the shards ("direct").
//
// An operation is one iteration of the scenario: one read, one adjustment, one report, or a
// reservation together with its commit (or release). A request is one HTTP request or, in
// direct mode, one SQL transaction. Only what finishes inside the measured window counts.
type Result struct {
	Mode           string  `json:"mode"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`

	Ops            int64   `json:"ops"`        // operations finished, whatever their answers
	OKOps          int64   `json:"ok_ops"`     // operations whose every request succeeded (2xx)
	FailedOps      int64   `json:"failed_ops"` // Ops - OKOps
	Requests       int64   `json:"requests"`
	OpsPerSec      float64 `json:"ops_per_sec"`
	OKOpsPerSec    float64 `json:"ok_ops_per_sec"`
	RequestsPerSec float64 `json:"requests_per_sec"`

	Latency   Latency            `json:"latency"`    // per request, every kind
	OpLatency Latency            `json:"op_latency"` // per operation
	ByRequest map[string]Latency `json:"by_request"` // per request kind: read, reserve, commit, release, adjust, report

	// Statuses counts answers: HTTP status codes ("200", "409", …) for the gateway; for direct
	// runs "ok" or the error's code (insufficient_stock, partition_moved, mysql_1213, error).
	Statuses        map[string]int64 `json:"statuses"`
	TransportErrors int64            `json:"transport_errors"` // requests without an HTTP answer
	Retries         int64            `json:"retries"`          // direct: transactions retried after a deadlock or lock wait timeout
	ErrorSamples    []string         `json:"error_samples,omitempty"`
}

// Latency summarises durations in milliseconds; percentiles are nearest-rank over every sample.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// WriteTable prints the report for people.
func (r Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s, concurrency %d, %gs measured", r.Scenario, r.Concurrency, r.DurationSeconds)
	if r.WarmupSeconds > 0 {
		fmt.Fprintf(&b, " after %gs warm-up", r.WarmupSeconds)
	}
	fmt.Fprintf(&b, ", %d SKUs", r.Products)
	if r.Settle != "" {
		fmt.Fprintf(&b, ", reservations %s", map[string]string{SettleCommit: "committed", SettleRelease: "released"}[r.Settle])
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tops/s\tok ops/s\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tnet errs\tstatuses\t")
	for _, res := range []*Result{r.Gateway, r.Direct} {
		if res == nil {
			continue
		}
		l := res.Latency
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%s\t\n", res.Mode, res.OpsPerSec, res.OKOpsPerSec,
			res.RequestsPerSec, l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs, res.TransportErrors, formatStatuses(res.Statuses))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range []*Result{r.Gateway, r.Direct} {
		if res == nil || len(res.ByRequest) < 2 && res.Ops == res.Requests {
			continue
		}
		fmt.Fprintf(&b, "\n%s latency by request (ms):\n", res.Mode)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "request\tcount\tp50\tp90\tp99\tmax\t")
		for _, k := range kindNames {
			if l, ok := res.ByRequest[k]; ok {
				fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t\n", k, l.Count, l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs)
			}
		}
		l := res.OpLatency
		fmt.Fprintf(tw, "whole op\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t\n", l.Count, l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.GatewayToDirect != nil {
		fmt.Fprintf(&b, "\ngateway/direct throughput: %.2f\n", *r.GatewayToDirect)
	}
	for _, res := range []*Result{r.Gateway, r.Direct} {
		if res != nil && res.Retries > 0 {
			fmt.Fprintf(&b, "%s: %d transactions retried after a deadlock or lock wait timeout\n", res.Mode, res.Retries)
		}
		if res != nil && len(res.ErrorSamples) > 0 {
			fmt.Fprintf(&b, "%s errors, e.g.:\n", res.Mode)
			for _, m := range res.ErrorSamples {
				fmt.Fprintf(&b, "  %s\n", m)
			}
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatStatuses(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
