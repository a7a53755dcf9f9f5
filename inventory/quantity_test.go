package inventory

import (
	"math/big"
	"strings"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	cases := []struct {
		in       string
		unscaled int64
		decimals int
		err      bool
	}{
		{"0", 0, 0, false}, {"12", 12, 0, false}, {"-3", -3, 0, false}, {"1.50", 15, 1, false},
		{"0.001", 1, 3, false}, {"1e3", 1000, 0, false}, {"1.5E-2", 15, 3, false}, {"2.000000", 2, 0, false},
		{"999999999999999", 999999999999999, 0, false}, {"0.000001", 1, 6, false}, {"-0.0", 0, 0, false},
		{"1000000000000000", 0, 0, true}, {"0.0000001", 0, 0, true}, {"", 0, 0, true}, {"abc", 0, 0, true},
		{"1.2.3", 0, 0, true}, {".5", 0, 0, true}, {"1e99", 0, 0, true}, {"1e", 0, 0, true}, {"--1", 0, 0, true},
		{"12345678901234567890", 0, 0, true},
	}
	for _, c := range cases {
		d, err := ParseQuantity(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseQuantity(%q) error = %v, want error %v", c.in, err, c.err)
			continue
		}
		if err == nil && (d.Units != c.unscaled || d.Scale != c.decimals) {
			t.Errorf("ParseQuantity(%q) = %+v, want %d×10^-%d", c.in, d, c.unscaled, c.decimals)
		}
		if err != nil && !IsCode(err, CodeValidation) {
			t.Errorf("ParseQuantity(%q) error code %s, want validation_failed", c.in, ErrorCode(err))
		}
	}
}

func TestUnitsAndFormat(t *testing.T) {
	cases := []struct {
		in    string
		scale int
		units int64
		out   string
		err   bool
	}{
		{"1.5", 3, 1500, "1.5", false}, {"2", 0, 2, "2", false}, {"0.001", 3, 1, "0.001", false},
		{"-0.25", 2, -25, "-0.25", false}, {"0.25", 1, 0, "", true}, {"999999999.999999", 6, 999999999999999, "999999999.999999", false},
		{"1000000000", 6, 0, "", true}, {"1", 7, 0, "", true},
	}
	for _, c := range cases {
		d, err := ParseQuantity(c.in)
		if err != nil {
			t.Fatal(err)
		}
		u, err := d.BaseUnits(c.scale)
		if (err != nil) != c.err {
			t.Errorf("Units(%s, %d) error = %v", c.in, c.scale, err)
			continue
		}
		if err == nil && (u != c.units || FormatUnits(u, c.scale) != c.out) {
			t.Errorf("Units(%s, %d) = %d (%s), want %d (%s)", c.in, c.scale, u, FormatUnits(u, c.scale), c.units, c.out)
		}
	}
}

// FuzzQuantityRoundTrip: parsing never panics, accepted values are exact (compared with
// math/big), and formatting then parsing returns the same base units.
func FuzzQuantityRoundTrip(f *testing.F) {
	for _, s := range []string{"1", "0.5", "-12.345", "1e3", "999999999999999", "0.000001", "7E-6"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, scale int) {
		scale = ((scale % 7) + 7) % 7
		d, err := ParseQuantity(s)
		if err != nil {
			return
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok || strings.ContainsAny(s, " \t") || strings.HasPrefix(s, "+") {
			t.Fatalf("ParseQuantity accepted %q that big.Rat rejects", s)
		}
		want := new(big.Rat).SetFrac(big.NewInt(d.Units), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil))
		if r.Cmp(want) != 0 {
			t.Fatalf("ParseQuantity(%q) = %s, not exact", s, d)
		}
		u, err := d.BaseUnits(scale)
		if err != nil {
			return
		}
		back, err := ParseQuantity(FormatUnits(u, scale))
		if err != nil {
			t.Fatalf("cannot re-parse %q: %v", FormatUnits(u, scale), err)
		}
		u2, err := back.BaseUnits(scale)
		if err != nil || u2 != u {
			t.Fatalf("round trip %q → %d → %q → %d", s, u, FormatUnits(u, scale), u2)
		}
	})
}

func TestValidateSKU(t *testing.T) {
	for _, ok := range []string{"A", "abc-DEF_1.2", strings.Repeat("x", 64)} {
		if err := ValidateSKU(ok); err != nil {
			t.Errorf("ValidateSKU(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 65), "a b", "é", "a/b", "a\x00"} {
		if err := ValidateSKU(bad); !IsCode(err, CodeValidation) {
			t.Errorf("ValidateSKU(%q) = %v, want validation_failed", bad, err)
		}
	}
}
