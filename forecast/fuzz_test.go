package forecast

import (
	"encoding/binary"
	"math"
	"testing"
)

// fuzzMaxDays bounds a fuzzed series so one execution stays fast.
const fuzzMaxDays = 500

// decodeSeries turns fuzz bytes into a series: every 8 bytes a float64 (any
// bit pattern: NaN, ±Inf, negative, huge, subnormal), and one in-stock flag
// per day from flags (cycled; none when flags is empty).
func decodeSeries(data, flags []byte) Series {
	n := min(len(data)/8, fuzzMaxDays)
	s := Series{Demand: make([]float64, n)}
	for i := range n {
		s.Demand[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	if len(flags) > 0 {
		s.InStock = make([]bool, n)
		for i := range n {
			s.InStock[i] = flags[i%len(flags)]&1 == 1
		}
	}
	return s
}

func encodeSeries(ys ...float64) []byte {
	b := make([]byte, 8*len(ys))
	for i, v := range ys {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

// repeat returns ys repeated n times.
func repeat(n int, ys ...float64) []float64 {
	var out []float64
	for range n {
		out = append(out, ys...)
	}
	return out
}

func FuzzFit(f *testing.F) {
	f.Add(encodeSeries(), []byte{}, uint8(0), uint8(28))
	f.Add(encodeSeries(5), []byte{}, uint8(0), uint8(1))
	f.Add(encodeSeries(repeat(40, 0)...), []byte{}, uint8(0), uint8(28))
	f.Add(encodeSeries(repeat(30, 1, 0, 0, 3, 0, 0, 0)...), []byte{1, 1, 0}, uint8(0), uint8(14))
	f.Add(encodeSeries(repeat(60, 1e11, 3e11, 0)...), []byte{}, uint8(4), uint8(60))
	f.Add(encodeSeries(1, math.NaN(), math.Inf(1), -2, 4), []byte{}, uint8(0), uint8(7))
	f.Add(encodeSeries(repeat(120, 10, 12, 9, math.NaN(), 30, 40, 5)...), []byte{1, 0}, uint8(7), uint8(35))
	f.Add(encodeSeries(repeat(100, 5e-324, 1e-300, 2)...), []byte{}, uint8(2), uint8(200))
	f.Fuzz(func(t *testing.T, data, flags []byte, method, horizon uint8) {
		s := decodeSeries(data, flags)
		methods := append(Methods(), Auto)
		opts := Options{Method: methods[int(method)%len(methods)], Horizon: int(horizon) % 64} // 0 = default
		fc, err := Fit(s, opts)
		if err != nil {
			return // invalid input or no data: an error is a valid answer
		}
		checkForecast(t, fc)
	})
}
