package shard

import (
	"strconv"
	"strings"
)

// MaxScale is the largest number of decimal places a product's quantities may have.
const MaxScale = 6

// MaxUnits bounds the absolute value of every quantity in base units (exclusive).
const MaxUnits int64 = 1_000_000_000_000_000

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000}

// Decimal is an exact decimal number as it arrived in a request: Unscaled × 10^-Decimals, with
// trailing fractional zeros removed. It becomes base units only once the product's scale is known.
type Decimal struct {
	Unscaled int64
	Decimals int
}

// ParseDecimal parses a JSON number token (e.g. "12", "-0.250", "1e3") exactly. It rejects
// values with more than MaxScale significant decimals or an absolute value of MaxUnits or more.
func ParseDecimal(s string) (Decimal, error) {
	bad := func(why string) (Decimal, error) {
		return Decimal{}, Errorf(CodeValidation, "quantity %q %s", s, why)
	}
	if s == "" {
		return bad("is empty")
	}
	neg := false
	rest := s
	if rest[0] == '-' {
		neg, rest = true, rest[1:]
	}
	exp := 0
	if i := strings.IndexAny(rest, "eE"); i >= 0 {
		e, err := strconv.Atoi(rest[i+1:])
		if err != nil || e > 40 || e < -40 {
			return bad("has an invalid exponent")
		}
		exp, rest = e, rest[:i]
	}
	intPart, frac, _ := strings.Cut(rest, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if intPart == "" || strings.Trim(intPart+frac, "0123456789") != "" {
		return bad("is not a number")
	}
	decimals := len(frac) - exp
	// Drop trailing zeros so that 1.50 and 1.5 are the same request.
	for decimals > 0 && strings.HasSuffix(digits, "0") {
		digits, decimals = digits[:len(digits)-1], decimals-1
	}
	if digits == "" {
		return Decimal{}, nil
	}
	for decimals < 0 {
		digits, decimals = digits+"0", decimals+1
	}
	if decimals > MaxScale {
		return bad("has more than 6 decimal places")
	}
	if len(digits) > 16 {
		return bad("is out of range")
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v >= MaxUnits {
		return bad("is out of range")
	}
	if neg {
		v = -v
	}
	return Decimal{Unscaled: v, Decimals: decimals}, nil
}

// Units converts d to base units of a product with the given scale. It fails with
// validation_failed when d has more decimals than the scale allows or does not fit MaxUnits.
func (d Decimal) Units(scale int) (int64, error) {
	if scale < 0 || scale > MaxScale {
		return 0, Errorf(CodeValidation, "scale %d is out of range 0-%d", scale, MaxScale)
	}
	if d.Decimals > scale {
		return 0, Errorf(CodeValidation, "quantity %s has more decimal places than the product's scale %d", d, scale)
	}
	m := pow10[scale-d.Decimals]
	u := d.Unscaled
	if u >= MaxUnits/m+1 || u <= -(MaxUnits/m+1) {
		return 0, Errorf(CodeValidation, "quantity %s is out of range", d)
	}
	u *= m
	if u >= MaxUnits || u <= -MaxUnits {
		return 0, Errorf(CodeValidation, "quantity %s is out of range", d)
	}
	return u, nil
}

// String prints d exactly, without trailing zeros.
func (d Decimal) String() string { return FormatUnits(d.Unscaled, d.Decimals) }

// FormatUnits prints base units of a product with the given scale as an exact decimal number
// without trailing fractional zeros (scale 3: 12500 → "12.5", 12000 → "12").
func FormatUnits(units int64, scale int) string {
	if scale <= 0 {
		return strconv.FormatInt(units, 10)
	}
	neg := units < 0
	u := uint64(units)
	if neg {
		u = uint64(-units)
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	intPart, frac := s[:len(s)-scale], strings.TrimRight(s[len(s)-scale:], "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
