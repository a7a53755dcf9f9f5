package synth

import (
	"math"
	"reflect"
	"testing"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(3, 17, 200, 10), Generate(3, 17, 200, 10)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and index gave different series")
	}
	if c := Generate(4, 17, 200, 10); reflect.DeepEqual(a.Demand, c.Demand) {
		t.Fatal("another seed gave the same demand")
	}
}

func TestGenerateKinds(t *testing.T) {
	for i := range 8 {
		s := Generate(1, i, 1000, 28)
		if s.Kind != Kind(i%4) || len(s.Demand) != 1000 || len(s.InStock) != 1000 || len(s.Mean) != 1028 {
			t.Fatalf("series %d: kind %v, lengths %d %d %d", i, s.Kind, len(s.Demand), len(s.InStock), len(s.Mean))
		}
		var sum, zeros, out float64
		for d, v := range s.Demand {
			if v < 0 || v != math.Trunc(v) {
				t.Fatalf("series %d day %d: demand %v", i, d, v)
			}
			if !s.InStock[d] {
				out++
				if v != 0 {
					t.Fatalf("series %d day %d: sold %v while out of stock", i, d, v)
				}
			}
			if v == 0 {
				zeros++
			}
			sum += v
		}
		var meanSum float64
		for _, m := range s.Mean[:1000] {
			meanSum += m
		}
		switch s.Kind {
		case Smooth:
			if math.Abs(sum-meanSum) > 0.05*meanSum || out > 0 {
				t.Errorf("smooth series %d: sold %v, expected %v, %v days out", i, sum, meanSum, out)
			}
		case Intermittent, Lumpy:
			if zeros < 400 || out > 0 {
				t.Errorf("%v series %d: only %v zero days", s.Kind, i, zeros)
			}
		case Censored:
			if out < 50 || out > 400 {
				t.Errorf("censored series %d: %v days out of stock", i, out)
			}
		}
	}
}
