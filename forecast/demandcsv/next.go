package demandcsv

import (
	"fmt"
	"io"
	"math"
	"strconv"
)

// Next returns the next series, or io.EOF after the last one.
func (r *Reader) Next() (Series, error) {
	first := r.pending
	r.pending = nil
	if first == nil {
		if r.done {
			return Series{}, io.EOF
		}
		row, err := r.readRow("")
		if err != nil {
			return Series{}, err
		}
		first = &row
	}
	if _, dup := r.seen[first.id]; dup {
		return Series{}, fmt.Errorf("%w: series %q appears again at line %d", ErrUnsorted, first.id, first.line)
	}
	r.seen[first.id] = struct{}{}
	s := Series{ID: first.id, Start: first.day}
	if r.HasInStock() {
		s.InStock = []bool{}
	}
	if len(r.extraCol) > 0 {
		s.Extra = make([][]float64, len(r.extraCol))
		for j := range s.Extra {
			if r.HasExtra(j) {
				s.Extra[j] = []float64{}
			}
		}
	}
	s.add(*first)
	for {
		row, err := r.readRow(s.ID)
		if err == io.EOF {
			r.done = true
			return s, nil
		}
		if err != nil {
			return Series{}, err
		}
		if row.id != s.ID {
			next := row // a copy, so that only a series' first row escapes
			r.pending = &next
			return s, nil
		}
		want := s.Start + Day(len(s.Demand))
		if row.day < want {
			return Series{}, fmt.Errorf("%w: series %q: date %s at line %d is not after %s",
				ErrUnsorted, s.ID, row.day, row.line, want-1)
		}
		if int64(row.day-s.Start) >= MaxSeriesDays {
			return Series{}, fmt.Errorf("%w: series %q spans more than %d days at line %d", ErrFormat, s.ID, MaxSeriesDays, row.line)
		}
		gap := 0.0
		if r.gaps == GapsMissing {
			gap = math.NaN()
		}
		for ; want < row.day; want++ {
			s.add(fillRow(gap))
		}
		s.add(row)
	}
}

// fillRow is the row of a date missing inside a series: every value v, in
// stock.
func fillRow(v float64) row {
	r := row{y: v, inStock: true}
	for j := range r.extra {
		r.extra[j] = v
	}
	return r
}

// add appends one day.
func (s *Series) add(r row) {
	s.Demand = append(s.Demand, r.y)
	if s.InStock != nil {
		s.InStock = append(s.InStock, r.inStock)
	}
	for j, x := range s.Extra {
		if x != nil {
			s.Extra[j] = append(x, r.extra[j])
		}
	}
}

// readRow reads and parses the next row. cur is the current series' ID: a
// row of the same series reuses it instead of allocating.
func (r *Reader) readRow(cur string) (row, error) {
	f, err := r.readLine()
	if err != nil {
		return row{}, err
	}
	if len(f) != r.cols {
		return row{}, fmt.Errorf("%w: line %d has %d fields, the header %d", ErrFormat, r.line, len(f), r.cols)
	}
	rw := row{line: r.line, inStock: true}
	if id := f[r.idCol]; string(id) == cur {
		rw.id = cur
	} else {
		rw.id = string(id)
	}
	if rw.id == "" {
		return row{}, fmt.Errorf("%w: line %d: empty unique_id", ErrFormat, r.line)
	}
	if rw.day, err = parseDay(f[r.dsCol]); err != nil {
		return row{}, fmt.Errorf("%w: line %d: %v", ErrFormat, r.line, err)
	}
	if rw.y, err = parseValue(f[r.yCol]); err != nil {
		return row{}, fmt.Errorf("%w: line %d: y: %v", ErrFormat, r.line, err)
	}
	for j, col := range r.extraCol {
		if col < 0 {
			continue
		}
		if rw.extra[j], err = parseValue(f[col]); err != nil {
			return row{}, fmt.Errorf("%w: line %d: column %d: %v", ErrFormat, r.line, col+1, err)
		}
	}
	if r.stockCol >= 0 {
		switch string(f[r.stockCol]) {
		case "1", "true", "TRUE", "True", "":
		case "0", "false", "FALSE", "False":
			rw.inStock = false
		default:
			return row{}, fmt.Errorf("%w: line %d: in_stock %q is not 1 or 0", ErrFormat, r.line, f[r.stockCol])
		}
	}
	return rw, nil
}

// parseValue parses a demand value: digits fast, anything else through
// strconv; empty, NA and NaN are missing (NaN).
func parseValue(b []byte) (float64, error) {
	if len(b) > 0 && len(b) <= 15 {
		v := int64(0)
		ok := true
		for _, c := range b {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + int64(c-'0')
		}
		if ok {
			return float64(v), nil
		}
	}
	switch string(b) {
	case "", "NA", "na", "NaN", "nan", "null":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(string(b), 64)
}
