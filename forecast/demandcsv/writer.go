package demandcsv

import (
	"bufio"
	"io"
	"math"
	"strconv"
)

// ForecastHeader is the header of the forecast form.
const ForecastHeader = "unique_id,ds,method,mean,q50,q90,q95,q99"

// ForecastRow is one day of one series' forecast.
type ForecastRow struct {
	Day    Day
	Method string
	Mean   float64
	Q      [4]float64 // q50, q90, q95, q99
}

// Writer writes CSV rows through a buffer; call Flush at the end.
type Writer struct {
	bw  *bufio.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 1<<20)}
}

// Header writes a header line.
func (w *Writer) Header(h string) error {
	_, err := w.bw.WriteString(h + "\n")
	return err
}

// Forecast writes the rows of one series.
func (w *Writer) Forecast(id string, rows []ForecastRow) error {
	for _, r := range rows {
		b := appendField(w.buf[:0], id)
		b = append(b, ',')
		b = appendDay(b, r.Day)
		b = append(b, ',')
		b = appendField(b, r.Method)
		b = appendNumber(append(b, ','), r.Mean)
		for _, q := range r.Q {
			b = appendNumber(append(b, ','), q)
		}
		b = append(b, '\n')
		w.buf = b
		if _, err := w.bw.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// History writes one series in the history form; header "unique_id,ds,y" or,
// when s.InStock is not nil, "unique_id,ds,y,in_stock".
func (w *Writer) History(s Series) error {
	for i, v := range s.Demand {
		b := appendField(w.buf[:0], s.ID)
		b = append(b, ',')
		b = appendDay(b, s.Start+Day(i))
		b = appendNumber(append(b, ','), v)
		if s.InStock != nil {
			c := byte('1')
			if !s.InStock[i] {
				c = '0'
			}
			b = append(b, ',', c)
		}
		b = append(b, '\n')
		w.buf = b
		if _, err := w.bw.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes buffered rows.
func (w *Writer) Flush() error { return w.bw.Flush() }

// appendNumber writes v with at most 4 decimals and no trailing zeros; NaN
// is written empty.
func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) {
		return b
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	n := len(b)
	b = strconv.AppendFloat(b, v, 'f', 4, 64)
	for len(b) > n && b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return b
}

// appendField writes s, quoted when it holds a comma, quote or newline.
func appendField(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			b = append(b, '"')
			for j := 0; j < len(s); j++ {
				if s[j] == '"' {
					b = append(b, '"')
				}
				b = append(b, s[j])
			}
			return append(b, '"')
		}
	}
	return append(b, s...)
}
