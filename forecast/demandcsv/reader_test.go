package demandcsv

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readAll reads every series of text.
func readAll(t *testing.T, text string, gaps Gaps) ([]Series, error) {
	t.Helper()
	r, err := NewReader(strings.NewReader(text), gaps)
	if err != nil {
		return nil, err
	}
	var out []Series
	for {
		s, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
}

func day(t *testing.T, s string) Day {
	t.Helper()
	d, err := ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sameSeries compares series, NaN equal to NaN.
func sameSeries(a, b []Series) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Start != b[i].Start || len(a[i].Demand) != len(b[i].Demand) ||
			!reflect.DeepEqual(a[i].InStock, b[i].InStock) {
			return false
		}
		for j, v := range a[i].Demand {
			w := b[i].Demand[j]
			if v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
				return false
			}
		}
	}
	return true
}

func TestReaderReadsSeries(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		text string
		gaps Gaps
		want []Series
	}{
		{"two series, extra column, CRLF", "unique_id,ds,y,price\r\na,2024-01-30,1,2.0\r\na,2024-01-31,2.5,2.0\r\nb,2024-02-28,0,1\r\nb,2024-02-29,3,1\r\n", GapsZero,
			[]Series{{ID: "a", Start: day(t, "2024-01-30"), Demand: []float64{1, 2.5}}, {ID: "b", Start: day(t, "2024-02-28"), Demand: []float64{0, 3}}}},
		{"columns in any order, in_stock", "y,in_stock,ds,unique_id\n4,1,2020-01-01,x\n0,0,2020-01-02,x\n5,,2020-01-03,x\n", GapsZero,
			[]Series{{ID: "x", Start: day(t, "2020-01-01"), Demand: []float64{4, 0, 5}, InStock: []bool{true, false, true}}}},
		{"gap as zero", "unique_id,ds,y\na,2020-01-01,1\na,2020-01-04,2\n", GapsZero,
			[]Series{{ID: "a", Start: day(t, "2020-01-01"), Demand: []float64{1, 0, 0, 2}}}},
		{"gap as missing", "unique_id,ds,y\na,2020-01-01,1\na,2020-01-03,2\n", GapsMissing,
			[]Series{{ID: "a", Start: day(t, "2020-01-01"), Demand: []float64{1, nan, 2}}}},
		{"empty and NA values are missing", "unique_id,ds,y\na,2020-01-01,\na,2020-01-02,NA\n", GapsZero,
			[]Series{{ID: "a", Start: day(t, "2020-01-01"), Demand: []float64{nan, nan}}}},
		{"quoted id with a comma", "unique_id,ds,y\n\"s,1\",2020-01-01,7\n", GapsZero,
			[]Series{{ID: "s,1", Start: day(t, "2020-01-01"), Demand: []float64{7}}}},
		{"header only", "unique_id,ds,y\n", GapsZero, nil},
		{"no final newline, blank lines", "unique_id,ds,y\n\na,2020-01-01,1\n\na,2020-01-02,1", GapsZero,
			[]Series{{ID: "a", Start: day(t, "2020-01-01"), Demand: []float64{1, 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.text, tt.gaps)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !sameSeries(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReaderRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		text string
		want error
	}{
		{"series reappears", "unique_id,ds,y\na,2020-01-01,1\nb,2020-01-01,1\na,2020-01-02,1\n", ErrUnsorted},
		{"dates go backwards", "unique_id,ds,y\na,2020-01-02,1\na,2020-01-01,1\n", ErrUnsorted},
		{"date repeats", "unique_id,ds,y\na,2020-01-02,1\na,2020-01-02,1\n", ErrUnsorted},
		{"missing column", "unique_id,date,y\na,2020-01-01,1\n", ErrFormat},
		{"empty input", "", ErrFormat},
		{"bad date", "unique_id,ds,y\na,2020-02-30,1\n", ErrFormat},
		{"date format", "unique_id,ds,y\na,01/02/2020,1\n", ErrFormat},
		{"bad number", "unique_id,ds,y\na,2020-01-01,lots\n", ErrFormat},
		{"bad in_stock", "unique_id,ds,y,in_stock\na,2020-01-01,1,maybe\n", ErrFormat},
		{"field count", "unique_id,ds,y\na,2020-01-01\n", ErrFormat},
		{"empty id", "unique_id,ds,y\n,2020-01-01,1\n", ErrFormat},
		{"span too long", "unique_id,ds,y\na,1900-01-01,1\na,2200-01-01,1\n", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, tt.text, GapsZero)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOpenReadsPlainAndGzip(t *testing.T) {
	text := "unique_id,ds,y\na,2020-01-01,1\n"
	dir := t.TempDir()
	plain := filepath.Join(dir, "h.csv")
	if err := os.WriteFile(plain, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(text))
	zw.Close()
	zipped := filepath.Join(dir, "h.csv.gz")
	if err := os.WriteFile(zipped, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, zipped} {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || string(got) != text {
			t.Fatalf("%s: read %q, %v", path, got, err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.csv")); err == nil {
		t.Fatal("opening a missing file succeeded")
	}
}

func TestDayRoundTrip(t *testing.T) {
	for _, s := range []string{"1970-01-01", "2000-02-29", "2016-04-24", "1899-12-31", "2100-03-01", "0001-01-01", "9999-12-31"} {
		d := day(t, s)
		if d.String() != s || string(appendDay(nil, d)) != s {
			t.Errorf("%s → %d → %s / %s", s, d, d, appendDay(nil, d))
		}
	}
	if day(t, "1970-01-02") != 1 || day(t, "1969-12-31") != -1 {
		t.Error("epoch offsets wrong")
	}
}

func FuzzReader(f *testing.F) {
	f.Add("unique_id,ds,y\na,2020-01-01,1\na,2020-01-03,2\nb,2020-01-01,x\n")
	f.Add("unique_id,ds,y,in_stock\n\"q\"\"\",2020-01-01,1,0\n")
	f.Add("ds,y,unique_id\n2020-13-01,1,a\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, gaps := range []Gaps{GapsZero, GapsMissing} {
			series, _ := readAll(t, text, gaps)
			for _, s := range series {
				if s.ID == "" || len(s.Demand) == 0 || len(s.Demand) > MaxSeriesDays ||
					(s.InStock != nil && len(s.InStock) != len(s.Demand)) {
					t.Fatalf("bad series %+v", s)
				}
			}
		}
	})
}
