package demandcsv

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// ErrUnsorted is wrapped by the error a Reader returns when rows are not
// grouped by unique_id or dates within a series do not increase.
var ErrUnsorted = errors.New("demandcsv: input not sorted by unique_id, then ds")

// ErrFormat is wrapped by every other error about the file's content.
var ErrFormat = errors.New("demandcsv: malformed input")

// Gaps says what a date missing inside a series means.
type Gaps int

const (
	// GapsZero treats a missing date as a day without sales (exports often
	// omit such rows).
	GapsZero Gaps = iota
	// GapsMissing treats a missing date as a day without an observation.
	GapsMissing
)

// MaxSeriesDays bounds the days of one series (gaps included), so a typo in a
// date cannot make a reader allocate without end.
const MaxSeriesDays = 100_000

// Series is one series of a file.
type Series struct {
	ID    string
	Start Day // date of Demand[0]
	// Demand per day (NaN = missing observation: empty y, NA, or a gap under
	// GapsMissing).
	Demand []float64
	// InStock per day; nil when the file has no in_stock column.
	InStock []bool
	// Extra holds one slice per column named to NewReader after gaps, in
	// that order: a value per day, parsed like y (empty or NA is NaN; a
	// filled gap is 0 under GapsZero, NaN under GapsMissing); nil for a
	// column the file lacks.
	Extra [][]float64
}

// MaxExtra is the most extra columns a Reader reads.
const MaxExtra = 4

// Reader reads series one at a time.
type Reader struct {
	br       *bufio.Reader
	gaps     Gaps
	line     int
	idCol    int
	dsCol    int
	yCol     int
	stockCol int   // -1 when absent
	extraCol []int // per extra name; -1 when absent
	cols     int
	seen     map[string]struct{}
	pending  *row // first row of the next series
	fields   [][]byte
	done     bool
}

// row is one parsed line.
type row struct {
	id      string
	day     Day
	y       float64
	inStock bool
	extra   [MaxExtra]float64
	line    int
}

// NewReader reads the header from r and returns a Reader. extra names
// optional numeric columns (at most MaxExtra) to read into Series.Extra.
func NewReader(r io.Reader, gaps Gaps, extra ...string) (*Reader, error) {
	if len(extra) > MaxExtra {
		return nil, fmt.Errorf("demandcsv: %d extra columns asked for, at most %d", len(extra), MaxExtra)
	}
	rd := &Reader{br: bufio.NewReaderSize(r, 1<<20), gaps: gaps, seen: map[string]struct{}{}, stockCol: -1,
		extraCol: make([]int, len(extra))}
	header, err := rd.readLine()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty input, want a header unique_id,ds,y", ErrFormat)
	}
	if err != nil {
		return nil, err
	}
	rd.idCol, rd.dsCol, rd.yCol = -1, -1, -1
	for j := range rd.extraCol {
		rd.extraCol[j] = -1
	}
	for i, f := range header {
		name := string(bytes.TrimSpace(f))
		for j, x := range extra {
			if name == x {
				rd.extraCol[j] = i
			}
		}
		switch name {
		case "unique_id":
			rd.idCol = i
		case "ds":
			rd.dsCol = i
		case "y":
			rd.yCol = i
		case "in_stock":
			rd.stockCol = i
		}
	}
	if rd.idCol < 0 || rd.dsCol < 0 || rd.yCol < 0 {
		return nil, fmt.Errorf("%w: header %q lacks unique_id, ds or y", ErrFormat, bytes.Join(header, []byte(",")))
	}
	rd.cols = len(header)
	return rd, nil
}

// HasInStock reports whether the file has an in_stock column.
func (r *Reader) HasInStock() bool { return r.stockCol >= 0 }

// HasExtra reports whether the file has the i-th extra column.
func (r *Reader) HasExtra(i int) bool { return i >= 0 && i < len(r.extraCol) && r.extraCol[i] >= 0 }

// readLine returns the fields of the next non-empty line (valid until the
// next call).
func (r *Reader) readLine() ([][]byte, error) {
	for {
		line, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("%w: line %d longer than %d bytes", ErrFormat, r.line+1, r.br.Size())
		}
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, err
		}
		r.line++
		for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			if err == io.EOF {
				return nil, io.EOF
			}
			continue
		}
		r.fields = r.fields[:0]
		start := 0
		for i, c := range line {
			switch c {
			case ',':
				r.fields = append(r.fields, line[start:i])
				start = i + 1
			case '"':
				return quotedFields(line, r.line)
			}
		}
		r.fields = append(r.fields, line[start:])
		return r.fields, nil
	}
}

// quotedFields parses a line with quotes the slow, exact way.
func quotedFields(line []byte, n int) ([][]byte, error) {
	rec, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil {
		return nil, fmt.Errorf("%w: line %d: %v", ErrFormat, n, err)
	}
	out := make([][]byte, len(rec))
	for i, s := range rec {
		out[i] = []byte(s)
	}
	return out, nil
}
