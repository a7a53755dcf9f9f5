package demandcsv

import (
	"math"
	"strings"
	"testing"
)

func TestReaderReadsExtraColumns(t *testing.T) {
	text := "unique_id,ds,y,adjustment,price\na,2020-01-01,1,-2,9\na,2020-01-03,2,,9\nb,2020-01-01,0,NA,1\n"
	for _, gaps := range []Gaps{GapsZero, GapsMissing} {
		r, err := NewReader(strings.NewReader(text), gaps, "adjustment", "cancelled")
		if err != nil {
			t.Fatal(err)
		}
		if !r.HasExtra(0) || r.HasExtra(1) || r.HasExtra(2) {
			t.Fatal("HasExtra wrong")
		}
		a, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		gap := 0.0
		if gaps == GapsMissing {
			gap = math.NaN()
		}
		want := []float64{-2, gap, math.NaN()}
		if len(a.Extra) != 2 || a.Extra[1] != nil || len(a.Extra[0]) != 3 {
			t.Fatalf("extra %v", a.Extra)
		}
		for i, v := range want {
			if got := a.Extra[0][i]; got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
				t.Errorf("gaps %d: adjustment day %d = %v, want %v", gaps, i, got, v)
			}
		}
		b, err := r.Next()
		if err != nil || len(b.Extra[0]) != 1 || !math.IsNaN(b.Extra[0][0]) {
			t.Fatalf("series b: %+v, %v", b, err)
		}
	}
}

func TestReaderRejectsBadExtraColumns(t *testing.T) {
	if _, err := NewReader(strings.NewReader("unique_id,ds,y\n"), GapsZero, "a", "b", "c", "d", "e"); err == nil {
		t.Fatal("five extra columns accepted")
	}
	r, err := NewReader(strings.NewReader("unique_id,ds,y,adjustment\na,2020-01-01,1,lots\n"), GapsZero, "adjustment")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad value: %v", err)
	}
}
