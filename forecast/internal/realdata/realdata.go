// Package realdata finds the public retail demand sets the forecasting and
// anomaly benchmarks read (never tests): <dir>/<set>/history.csv.gz.
package realdata

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardstock/shardstock/forecast/demandcsv"
)

// EnvDir names the directory holding the sets; by default
// ../shared/data/demand next to the repository root.
const EnvDir = "SHARDSTOCK_DEMAND_DIR"

// Sets are the real data sets.
var Sets = []string{"store_item", "bakery", "m5_spot"}

// Dir finds the data directory or fails tb with what to do.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv(EnvDir)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			tb.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "data", "demand")
	}
	for _, set := range Sets {
		if _, err := os.Stat(Path(dir, set)); err != nil {
			tb.Fatalf("real demand data not found in %s (%v): set %s to the directory holding store_item/, bakery/ and m5_spot/", dir, err, EnvDir)
		}
	}
	return dir
}

// Path is the history file of set in dir.
func Path(dir, set string) string { return filepath.Join(dir, set, "history.csv.gz") }

// Open opens the history file at path for reading; close the Closer after.
func Open(path string, extra ...string) (*demandcsv.Reader, io.Closer, error) {
	f, err := demandcsv.Open(path)
	if err != nil {
		return nil, nil, err
	}
	r, err := demandcsv.NewReader(f, demandcsv.GapsZero, extra...)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, f, nil
}

// repoRoot walks up from the working directory to the directory with go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
