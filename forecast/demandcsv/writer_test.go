package demandcsv

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestWriterGolden(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	start, _ := ParseDay("2024-02-27")
	steps := []error{
		w.Header(ForecastHeader),
		w.Forecast("plain", []ForecastRow{
			{Day: start, Method: "auto:ses+tsb", Mean: 1.5, Q: [4]float64{1, 3, 4, 6}},
			{Day: start + 2, Method: "auto:ses+tsb", Mean: 1.0 / 3, Q: [4]float64{0, 2.123456, 3.00001, 1e12}},
		}),
		w.Forecast(`odd,"id"`, []ForecastRow{{Day: start + 1, Method: "ma", Mean: math.NaN()}}),
		w.Header("unique_id,ds,y,in_stock"),
		w.History(Series{ID: "h", Start: start, Demand: []float64{2, 0, math.NaN(), 0.25}, InStock: []bool{true, false, true, true}}),
		w.Flush(),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	golden(t, "writer.golden", b.Bytes())
}

func TestHistoryRoundTrip(t *testing.T) {
	start, _ := ParseDay("2021-12-30")
	in := []Series{
		{ID: "a", Start: start, Demand: []float64{1, 0, 7.5}, InStock: []bool{true, false, true}},
		{ID: "b,c", Start: start + 5, Demand: []float64{0, 0}, InStock: []bool{true, true}},
	}
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Header("unique_id,ds,y,in_stock")
	for _, s := range in {
		if err := w.History(s); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	got, err := readAll(t, b.String(), GapsZero)
	if err != nil || !sameSeries(got, in) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}

// history returns a file of n series of days days each.
func history(n, days int) string {
	var b strings.Builder
	b.WriteString("unique_id,ds,y\n")
	for i := range n {
		for d := range days {
			fmt.Fprintf(&b, "s%04d,%s,%d\n", i, Day(18000+d), (i+d)%5)
		}
	}
	return b.String()
}

func TestProcessKeepsInputOrder(t *testing.T) {
	for _, workers := range []int{1, 3, 8} {
		r, err := NewReader(strings.NewReader(history(50, 3)), GapsZero)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		err = Process(context.Background(), r, workers, func(s Series) (string, error) {
			return s.ID, nil
		}, func(s Series, id string) error {
			got = append(got, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range got {
			if want := fmt.Sprintf("s%04d", i); id != want {
				t.Fatalf("workers %d: result %d is %s, want %s", workers, i, id, want)
			}
		}
		if len(got) != 50 {
			t.Fatalf("workers %d: %d results, want 50", workers, len(got))
		}
	}
}

func TestProcessStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		text string
		work func(Series) (int, error)
		emit func(Series, int) error
		want error
	}{
		{"work fails", history(40, 2), func(s Series) (int, error) {
			if s.ID == "s0007" {
				return 0, boom
			}
			return 0, nil
		}, func(Series, int) error { return nil }, boom},
		{"emit fails", history(40, 2), func(Series) (int, error) { return 0, nil },
			func(s Series, _ int) error {
				if s.ID == "s0003" {
					return boom
				}
				return nil
			}, boom},
		{"input unsorted", history(3, 1) + "s0000,2020-01-01,1\n", func(Series) (int, error) { return 0, nil },
			func(Series, int) error { return nil }, ErrUnsorted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.text), GapsZero)
			if err != nil {
				t.Fatal(err)
			}
			if err := Process(context.Background(), r, 4, tt.work, tt.emit); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestProcessStopsWhenCancelled(t *testing.T) {
	r, err := NewReader(strings.NewReader(history(100, 2)), GapsZero)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = Process(ctx, r, 2, func(Series) (int, error) { return 0, nil }, func(Series, int) error {
		if n++; n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v after %d results, want context.Canceled", err, n)
	}
}
