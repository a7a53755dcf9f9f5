package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes text to a file in a temporary directory and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// generatedHistory writes series×days of synthetic history and returns its path.
func generatedHistory(t *testing.T, series, days string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.csv.gz")
	code, stdout, stderr := runCLI(t, "forecast", "generate", "--series", series, "--days", days, "--out", path)
	if code != exitOK || !strings.Contains(stdout, "wrote "+series+" series") {
		t.Fatalf("generate: exit %d\n%s%s", code, stdout, stderr)
	}
	return path
}

func TestForecastRunWritesEveryDayOfEverySeries(t *testing.T) {
	history := generatedHistory(t, "6", "150")
	out := filepath.Join(t.TempDir(), "forecast.csv")
	code, stdout, stderr := runCLI(t, "forecast", "run", "--history", history, "--horizon", "10", "--out", out, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var sum runSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Series != 6 || sum.Rows != 60 || sum.Skipped != 0 {
		t.Fatalf("summary %q: %+v, %v", stdout, sum, err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if lines[0] != "unique_id,ds,method,mean,q50,q90,q95,q99" || len(lines) != 61 {
		t.Fatalf("header %q, %d lines", lines[0], len(lines))
	}
	// 150 days from 2020-01-01 end on 2020-05-29: the forecast starts the day after.
	if f := strings.Split(lines[1], ","); f[0] != "syn000000" || f[1] != "2020-05-30" || !strings.HasPrefix(f[2], "auto:") {
		t.Fatalf("first row %q", lines[1])
	}
	if f := strings.Split(lines[60], ","); f[0] != "syn000005" || f[1] != "2020-06-08" {
		t.Fatalf("last row %q", lines[60])
	}
}

func TestForecastRunOneMethodToStdout(t *testing.T) {
	history := writeFile(t, "h.csv", "unique_id,ds,y,in_stock\na,2024-01-01,3,1\na,2024-01-02,5,1\na,2024-01-03,0,0\nb,2024-01-01,-1,1\n")
	code, stdout, stderr := runCLI(t, "forecast", "run", "--history", history, "--horizon", "2", "--method", "naive", "--out", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "unique_id,ds,method,mean,q50,q90,q95,q99\na,2024-01-04,naive,5,"
	if !strings.HasPrefix(stdout, want) || strings.Count(stdout, "\n") != 3 {
		t.Fatalf("stdout %q, want it to start %q and hold 2 rows", stdout, want)
	}
	if !strings.Contains(stderr, "1 skipped") || !strings.Contains(stderr, "b: forecast: demand on day 0 is -1") {
		t.Fatalf("stderr %q should report b as skipped", stderr)
	}
}

func TestForecastEvalPrintsEveryMethod(t *testing.T) {
	history := generatedHistory(t, "4", "200")
	code, stdout, stderr := runCLI(t, "forecast", "eval", "--history", history, "--name", "tiny")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"tiny: 4 series", "snaive", "tsb", "ets-yearly", "auto", "static", "auto vs best listed single method"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = runCLI(t, "forecast", "eval", "--history", history, "--methods", "ses,auto", "--exclude-last", "28", "--json")
	var rep struct {
		Series  int `json:"series"`
		Methods []struct {
			Method string `json:"method"`
		} `json:"methods"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Series != 4 || len(rep.Methods) != 2 {
		t.Fatalf("exit %d, report %q (%+v): %s", code, stdout, rep, stderr)
	}
}

func TestForecastExitCodes(t *testing.T) {
	good := writeFile(t, "good.csv", "unique_id,ds,y\na,2024-01-01,1\n")
	unsorted := writeFile(t, "unsorted.csv", "unique_id,ds,y\na,2024-01-01,1\nb,2024-01-01,1\na,2024-01-02,1\n")
	out := filepath.Join(t.TempDir(), "out.csv")
	runExitCases(t, []exitCase{
		{"no subcommand", []string{"forecast"}, exitUsage, "needs a subcommand"},
		{"no history", []string{"forecast", "run", "--out", out}, exitUsage, "needs --history"},
		{"no out", []string{"forecast", "run", "--history", good}, exitUsage, "needs --out"},
		{"bad method", []string{"forecast", "run", "--history", good, "--out", out, "--method", "magic"}, exitUsage, "unknown method"},
		{"bad horizon", []string{"forecast", "run", "--history", good, "--out", out, "--horizon", "0"}, exitUsage, "--horizon"},
		{"bad gaps", []string{"forecast", "eval", "--history", good, "--gaps", "fill"}, exitUsage, "--gaps"},
		{"bad service", []string{"forecast", "eval", "--history", good, "--service", "1.5"}, exitUsage, "--service"},
		{"bad methods", []string{"forecast", "eval", "--history", good, "--methods", "ses,nope"}, exitUsage, "unknown method"},
		{"generate without out", []string{"forecast", "generate"}, exitUsage, "needs --out"},
		{"missing file", []string{"forecast", "run", "--history", good + ".missing", "--out", out}, exitFailed, "no such file"},
		{"unsorted file", []string{"forecast", "run", "--history", unsorted, "--out", out}, exitFailed, "appears again"},
	})
}
