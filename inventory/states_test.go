package inventory

import (
	"math/big"
	"testing"
)

func TestHeaderKindRoundTrip(t *testing.T) {
	for _, st := range []Status{StatusPending, StatusHeld, StatusCommitting, StatusReleasing, StatusExpiring,
		StatusCommitted, StatusReleased, StatusExpired} {
		k := HeaderKind(st)
		if got, ok := k.HeaderStatus(); !ok || got != st {
			t.Errorf("HeaderKind(%q).HeaderStatus() = %q, %v", st, got, ok)
		}
	}
	for _, k := range []ChangeKind{KindCommit, KindAlertLow, "h:", "h", ""} {
		if st, ok := k.HeaderStatus(); ok {
			t.Errorf("%q.HeaderStatus() = %q, true; want not a header kind", k, st)
		}
	}
}

func TestStatusFinal(t *testing.T) {
	final := map[Status]bool{StatusCommitted: true, StatusReleased: true, StatusExpired: true}
	for _, st := range []Status{StatusPending, StatusHeld, StatusCommitting, StatusReleasing, StatusExpiring,
		StatusCommitted, StatusReleased, StatusExpired} {
		if st.Final() != final[st] {
			t.Errorf("%q.Final() = %v", st, st.Final())
		}
	}
}

func TestIsReason(t *testing.T) {
	for _, k := range []ChangeKind{KindReceive, KindReturn, KindCorrection, KindDamage, KindCount} {
		if !IsReason(k) {
			t.Errorf("IsReason(%q) = false", k)
		}
	}
	for _, k := range []ChangeKind{KindCommit, KindSale, KindCreate, "RECEIVE", ""} {
		if IsReason(k) {
			t.Errorf("IsReason(%q) = true", k)
		}
	}
}

func TestMicrosAndFormat(t *testing.T) {
	cases := []struct {
		units int64
		scale int
		want  string
	}{
		{12500, 3, "12.5"}, {3, 0, "3"}, {-1, 6, "-0.000001"}, {0, 2, "0"}, {999999999999999, 6, "999999999.999999"},
	}
	for _, c := range cases {
		if got := FormatMicros(Micros(big.NewInt(c.units), c.scale)); got != c.want {
			t.Errorf("FormatMicros(Micros(%d, %d)) = %q, want %q", c.units, c.scale, got, c.want)
		}
		if got := FormatUnits(c.units, c.scale); got != c.want {
			t.Errorf("FormatUnits(%d, %d) = %q, want %q", c.units, c.scale, got, c.want)
		}
	}
	// Sums beyond int64 stay exact.
	big1 := new(big.Int).Exp(big.NewInt(10), big.NewInt(25), nil) // 10^19 > MaxInt64
	big1.Add(big1, big.NewInt(5))
	if got := FormatMicros(big1); got != "10000000000000000000.000005" {
		t.Errorf("FormatMicros(%s) = %q", big1, got)
	}
}
