package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/forecast/demandcsv"
	"github.com/shardstock/shardstock/forecast/synth"
)

// anomalyHistory writes a history with the optional columns: series "b" is
// generated smooth demand (2020-01-01 on, 400 days) with a ×10 spike on day
// 300, no sale on days 330..334, an unexplained loss of 90 units on day 350
// and 80 cancelled units on day 360; series "a" has a negative sale and is
// skipped. Series are written b first: the output is sorted anyway.
func anomalyHistory(t *testing.T) string {
	t.Helper()
	s := synth.Generate(3, 0, 400, 0)
	var b strings.Builder
	b.WriteString("unique_id,ds,y,in_stock,adjustment,cancelled,on_hand\n")
	start, _ := demandcsv.ParseDay("2020-01-01")
	for i, v := range s.Demand {
		adj, canc := "", fmt.Sprint(int(v/20))
		switch {
		case i == 300:
			v *= 10
		case i >= 330 && i < 335:
			v = 0
		case i == 350:
			adj = "-90"
		case i == 360:
			canc = "80"
		case i%40 == 0:
			adj = "-1"
		case i%40 == 7:
			adj = "25" // a positive adjustment (a receipt) is not a loss
		}
		fmt.Fprintf(&b, "b,%s,%v,1,%s,%s,500\n", start+demandcsv.Day(i), v, adj, canc)
	}
	b.WriteString("a,2020-01-01,-1,1,,,\n")
	return writeFile(t, "history.csv", b.String())
}

func TestAnomaliesDetectWritesSortedRows(t *testing.T) {
	history := anomalyHistory(t)
	out := filepath.Join(t.TempDir(), "anomalies.csv.gz")
	code, stdout, stderr := runCLI(t, "anomalies", "detect", "--history", history, "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum detectSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Series != 2 || sum.Skipped != 1 || sum.Days != 400-56 {
		t.Fatalf("summary %q: %+v, %v", stdout, sum, err)
	}
	if len(sum.Warnings) != 1 || !strings.Contains(sum.Warnings[0], "a: ") {
		t.Fatalf("warnings %v", sum.Warnings)
	}
	f, err := demandcsv.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	data := string(raw)
	want := "unique_id,ds,kind,score\n" +
		"b,2020-10-27,spike,\n" + // day 300
		"b,2020-11-26,demand_drop,\n" + // day 330
		"b,2020-12-16,shrinkage,\n" + // day 350
		"b,2020-12-26,cancellation_burst,\n" // day 360
	if got := stripScores(data); got != want {
		t.Fatalf("rows (scores stripped):\n%s\nwant:\n%s\nfile:\n%s", got, want, data)
	}
}

func TestAnomaliesDetectFlags(t *testing.T) {
	history := anomalyHistory(t)
	code, stdout, stderr := runCLI(t, "anomalies", "detect", "--history", history, "--out", "-",
		"--kinds", "shrinkage,demand_drop", "--from", "2020-11-27", "--explain", "--threshold", "shrinkage=200")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || lines[0] != "unique_id,ds,kind,score,days,observed,expected,explanation" ||
		!strings.HasPrefix(lines[1], "b,2020-11-26,demand_drop,") || !strings.Contains(lines[1], ",5,0,") ||
		!strings.Contains(lines[1], `"no sale for 5 days while the system showed 500 on hand`) {
		t.Fatalf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, "judged 2 series (1 skipped)") || !strings.Contains(stderr, "demand_drop 1") {
		t.Fatalf("summary on stderr %q", stderr)
	}
}

func TestAnomaliesExitCodes(t *testing.T) {
	good := writeFile(t, "good.csv", "unique_id,ds,y\na,2024-01-01,1\n")
	unsorted := writeFile(t, "unsorted.csv", "unique_id,ds,y\na,2024-01-01,1\nb,2024-01-01,1\na,2024-01-02,1\n")
	badAdjustment := writeFile(t, "bad.csv", "unique_id,ds,y,adjustment\na,2024-01-01,1,lots\n")
	out := filepath.Join(t.TempDir(), "out.csv")
	runExitCases(t, []exitCase{
		{"no subcommand", []string{"anomalies"}, exitUsage, "needs a subcommand"},
		{"no history", []string{"anomalies", "detect", "--out", out}, exitUsage, "needs --history"},
		{"no out", []string{"anomalies", "detect", "--history", good}, exitUsage, "needs --out"},
		{"bad kind", []string{"anomalies", "detect", "--history", good, "--out", out, "--kinds", "spike,theft"}, exitUsage, "unknown anomaly kind"},
		{"bad threshold", []string{"anomalies", "detect", "--history", good, "--out", out, "--threshold", "spike=0"}, exitUsage, "--threshold"},
		{"threshold of no kind", []string{"anomalies", "detect", "--history", good, "--out", out, "--threshold", "4"}, exitUsage, "--threshold"},
		{"bad block", []string{"anomalies", "detect", "--history", good, "--out", out, "--block", "0"}, exitUsage, "--block"},
		{"bad from", []string{"anomalies", "detect", "--history", good, "--out", out, "--from", "2024-02-30"}, exitUsage, "--from"},
		{"bad method", []string{"anomalies", "detect", "--history", good, "--out", out, "--method", "magic"}, exitUsage, "unknown method"},
		{"bad window", []string{"anomalies", "detect", "--history", good, "--out", out, "--window", "3"}, exitUsage, "--window"},
		{"missing file", []string{"anomalies", "detect", "--history", good + ".missing", "--out", out}, exitFailed, "no such file"},
		{"unsorted file", []string{"anomalies", "detect", "--history", unsorted, "--out", out}, exitFailed, "appears again"},
		{"bad adjustment", []string{"anomalies", "detect", "--history", badAdjustment, "--out", out}, exitFailed, "line 2"},
	})
}

// exitCase is a command line and the exit code and stderr text it must give.
type exitCase struct {
	name string
	args []string
	code int
	want string // in stderr
}

// runExitCases runs every case as a subtest.
func runExitCases(t *testing.T, cases []exitCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

// stripScores blanks the score column of CSV text (scores depend on floating
// point details the test does not pin).
func stripScores(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 4 && f[0] != "unique_id" {
			f[3] = ""
		}
		b.WriteString(strings.Join(f, ",") + "\n")
	}
	return b.String()
}
