package anomaly

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/shardstock/shardstock/forecast"
)

// fuzzMaxDays bounds a fuzzed series so one execution stays fast.
const fuzzMaxDays = 200

// decodeSeries turns fuzz bytes into a series: every 8 bytes a float64 of
// sales (any bit pattern), and from flags one byte per day (cycled) whose
// bits choose the in-stock flag, a NaN on-hand level, and a loss and
// cancellations of the day's sales.
func decodeSeries(data, flags []byte) Series {
	n := min(len(data)/8, fuzzMaxDays)
	s := Series{Sales: make([]float64, n)}
	for i := range n {
		s.Sales[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	if len(flags) == 0 {
		return s
	}
	s.InStock, s.OnHand, s.Loss, s.Cancelled = make([]bool, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		f := flags[i%len(flags)]
		s.InStock[i] = f&1 == 0
		s.OnHand[i] = float64(f>>4) - 2
		if f&2 != 0 {
			s.OnHand[i] = math.NaN()
		}
		if f&4 != 0 {
			s.Loss[i] = math.Abs(s.Sales[i])
		}
		if f&8 != 0 {
			s.Cancelled[i] = float64(f >> 3)
		}
	}
	return s
}

func encode(ys ...float64) []byte {
	b := make([]byte, 8*len(ys))
	for i, v := range ys {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func FuzzDetect(f *testing.F) {
	f.Add(encode(), []byte{}, uint8(0))
	f.Add(encode(flat(1, 5)[:120]...), []byte{}, uint8(0))
	f.Add(encode(intermittent(2, 0.2, 3)[:150]...), []byte{0, 4, 8, 1, 0, 0, 2}, uint8(3))
	f.Add(encode(append(filled(60, 1e11), filled(60, 0)...)...), []byte{0x30}, uint8(1))
	f.Add(encode(append(filled(90, 7), 1e12, 0, math.NaN(), 5e-324, -1)...), []byte{0xf0, 0x0c}, uint8(2))
	f.Add(encode(append(filled(80, 0.5), filled(40, 0)...)...), []byte{}, uint8(200))
	f.Fuzz(func(t *testing.T, data, flags []byte, block uint8) {
		s := decodeSeries(data, flags)
		opts := Options{Warmup: forecast.MinWindow, Block: 7 + int(block)%50} // few fits: fast executions
		found, err := Detect(s, opts)
		if err != nil {
			if !errors.Is(err, forecast.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		checkAnomalies(t, s, opts, found)
	})
}
