package faults

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shardstock/shardstock/forecast/anomaly"
)

// WriteText prints the tally as two tables: recall per fault kind, then
// precision and false positives per anomaly kind.
func (t *Tally) WriteText(w io.Writer, title string) error {
	tw := tabwriter.NewWriter(w, 6, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s: %d days judged, %d clean (no fault within a day)\n", title, t.Days, t.CleanDays)
	fmt.Fprintln(tw, "fault\tplanted\tfound\trecall\trecall if detectable\tfound as other run kind\t")
	for _, k := range Kinds() {
		if k == Delay {
			continue
		}
		big := "-"
		if k == Drop || k == Frozen {
			big = fmt.Sprintf("%s of %d", pct(t.BigHits[k], t.Big[k]), t.Big[k])
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t\n", k, t.Faults[k], t.Hits[k], pct(t.Hits[k], t.Faults[k]), big, t.RunSwaps[k])
	}
	fmt.Fprintf(tw, "delay (harmless)\t%d\t%d\tflagged %s\t\t\t\n", t.Faults[Delay], t.Hits[Delay], pct(t.Hits[Delay], t.Faults[Delay]))
	fmt.Fprintln(tw, "anomaly\treported\ttrue\tprecision\tfalse on clean days\tFP rate per clean day\t")
	var found, tru, fc int
	for _, k := range anomaly.Kinds() {
		found, tru, fc = found+t.Found[k], tru+t.True[k], fc+t.FalseClean[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\t\n", k, t.Found[k], t.True[k], pct(t.True[k], t.Found[k]), t.FalseClean[k], pct2(t.FalseClean[k], t.CleanDays))
	}
	fmt.Fprintf(tw, "all\t%d\t%d\t%s\t%d\t%s\t\n", found, tru, pct(tru, found), fc, pct2(fc, t.CleanDays))
	return tw.Flush()
}

// pct formats a/b as a percentage ("-" when b is 0).
func pct(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// pct2 is pct with two decimals, for small rates.
func pct2(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(a)/float64(b))
}

// Line is the tally in one line: hits per fault kind (of the detectable ones
// for runs), delays flagged and false positives on clean days.
func (t *Tally) Line() string {
	var parts []string
	for _, k := range Kinds() {
		switch k {
		case Delay:
			parts = append(parts, fmt.Sprintf("delays flagged %d/%d", t.Hits[k], t.Faults[k]))
		case Drop, Frozen:
			parts = append(parts, fmt.Sprintf("%s %d/%d (detectable %d/%d)", k, t.Hits[k], t.Faults[k], t.BigHits[k], t.Big[k]))
		default:
			parts = append(parts, fmt.Sprintf("%s %d/%d", k, t.Hits[k], t.Faults[k]))
		}
	}
	fc := 0
	for _, v := range t.FalseClean {
		fc += v
	}
	parts = append(parts, fmt.Sprintf("false on clean days %d/%d (%s)", fc, t.CleanDays, pct2(fc, t.CleanDays)))
	return strings.Join(parts, ", ")
}
