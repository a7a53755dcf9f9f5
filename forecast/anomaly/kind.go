package anomaly

import (
	"fmt"
	"strings"

	"github.com/shardstock/shardstock/forecast"
)

// Kind names what an anomaly is.
type Kind string

// The kinds, in the order Kinds lists them.
const (
	// Spike is a day (with both two-day windows around it) selling far more
	// than expected: bots, price errors, duplicated orders.
	Spike Kind = "spike"
	// Shrinkage is a day losing far more units to unexplained negative
	// adjustments than the item's own history of such losses makes plausible.
	Shrinkage Kind = "shrinkage"
	// PhantomStock is a run of at least Options.PhantomDays days without a
	// sale while stock is shown, improbable at the expected demand: the stock
	// record is probably wrong (nothing is really there).
	PhantomStock Kind = "phantom_stock"
	// DemandDrop is a shorter improbable run of days without a sale while in
	// stock: demand fell to zero suddenly (a broken listing, a wrong price).
	DemandDrop Kind = "demand_drop"
	// CancellationBurst is a day releasing or expiring far more reserved
	// units than the item's own cancellation rate makes plausible.
	CancellationBurst Kind = "cancellation_burst"
)

// Kinds lists every kind in a fixed order.
func Kinds() []Kind {
	return []Kind{Spike, Shrinkage, PhantomStock, DemandDrop, CancellationBurst}
}

// ParseKind returns the kind named s (case-insensitive, surrounding spaces
// ignored).
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	for _, want := range Kinds() {
		if k == want {
			return k, nil
		}
	}
	return "", invalidf("unknown anomaly kind %q (want one of %s)", s, kindList())
}

// ParseKinds parses a comma-separated list of kinds; "" is nil (every kind).
func ParseKinds(s string) ([]Kind, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Kind
	for _, part := range strings.Split(s, ",") {
		k, err := ParseKind(part)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// kindList is the comma-separated list of kinds, for messages.
func kindList() string {
	names := make([]string, 0, len(Kinds()))
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// invalidf returns an error wrapping forecast.ErrInvalid whose message starts
// with "anomaly: ".
func invalidf(format string, args ...any) error {
	return fmt.Errorf("anomaly: %w: %s", forecast.ErrInvalid, fmt.Sprintf(format, args...))
}
