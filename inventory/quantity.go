package inventory

import (
	"math/big"
	"strconv"
	"strings"
)

// MaxScale is the largest number of decimal places a product's quantities may have.
const MaxScale = 6

// MaxUnits bounds the absolute value of every quantity in base units (exclusive).
const MaxUnits int64 = 1_000_000_000_000_000

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000}

// Quantity is an exact decimal number: Units × 10^-Scale. A quantity parsed from a request has
// the smallest scale that holds it (trailing fractional zeros removed); it becomes base units of
// a product only once the product's scale is known (BaseUnits).
type Quantity struct {
	Units int64
	Scale int
}

// ParseQuantity parses a JSON number token (e.g. "12", "-0.250", "1e3") exactly. It rejects
// values with more than MaxScale significant decimals or an absolute value of MaxUnits or more.
func ParseQuantity(s string) (Quantity, error) {
	bad := func(why string) (Quantity, error) {
		return Quantity{}, Errorf(CodeValidation, "quantity %q %s", s, why)
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
		return Quantity{}, nil
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
	return Quantity{Units: v, Scale: decimals}, nil
}

// BaseUnits converts q to base units of a product with the given scale. It fails with
// validation_failed when q has more decimals than the scale allows or does not fit MaxUnits.
func (q Quantity) BaseUnits(scale int) (int64, error) {
	if scale < 0 || scale > MaxScale {
		return 0, Errorf(CodeValidation, "scale %d is out of range 0-%d", scale, MaxScale)
	}
	if q.Scale > scale {
		return 0, Errorf(CodeValidation, "quantity %s has more decimal places than the product's scale %d", q, scale)
	}
	m := pow10[scale-q.Scale]
	u := q.Units
	if u >= MaxUnits/m+1 || u <= -(MaxUnits/m+1) {
		return 0, Errorf(CodeValidation, "quantity %s is out of range", q)
	}
	u *= m
	if u >= MaxUnits || u <= -MaxUnits {
		return 0, Errorf(CodeValidation, "quantity %s is out of range", q)
	}
	return u, nil
}

// String prints q exactly, without trailing fractional zeros.
func (q Quantity) String() string { return FormatUnits(q.Units, q.Scale) }

// FormatUnits prints base units of a product with the given scale as an exact decimal number
// without trailing fractional zeros (scale 3: 12500 → "12.5", 12000 → "12").
func FormatUnits(units int64, scale int) string {
	if scale <= 0 {
		return strconv.FormatInt(units, 10)
	}
	u := uint64(units)
	if units < 0 {
		u = uint64(-units)
	}
	return formatDigits(strconv.FormatUint(u, 10), units < 0, scale)
}

// Micros converts base units of the given scale to millionths (MaxScale decimals), the common
// unit in which reports add up quantities of products with different scales. It returns a new
// value; sums across a cluster can exceed int64, hence big.Int.
func Micros(units *big.Int, scale int) *big.Int {
	return new(big.Int).Mul(units, big.NewInt(pow10[MaxScale-scale]))
}

// FormatMicros prints a value in millionths as an exact decimal number without trailing
// fractional zeros ("12.5", "3", "-0.000001").
func FormatMicros(v *big.Int) string {
	return formatDigits(new(big.Int).Abs(v).String(), v.Sign() < 0, MaxScale)
}

// formatDigits places the decimal point scale digits from the right of the unsigned digits.
func formatDigits(digits string, neg bool, scale int) string {
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	out := digits[:len(digits)-scale]
	if frac := strings.TrimRight(digits[len(digits)-scale:], "0"); frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
