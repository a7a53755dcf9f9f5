// Package bench is shardstock's load generator: it sets up a catalogue through the gateway,
// drives one scenario with a fixed number of concurrent workers for a fixed duration and
// reports throughput, latency percentiles and the count of each answer. A direct mode runs the
// same operations' SQL straight against the shard databases, as the baseline the gateway is
// measured against.
//
// Scenarios: read (GET a random product), reserve (reserve one unit of a random product, then
// commit it), hot (the same on one SKU for every worker), mixed (70% read, 20% reserve and
// commit, 10% an adjustment of +1) and report (GET /v1/stats/summary). Reservations are
// committed by default, as a flash sale's orders are: stock really leaves, so the setup gives
// every catalogue product 10^9 units and the hot SKU 10^12, which no run drains (at 10,000
// commits/s a run would need over 3 years). Options.Settle = "release" keeps stock constant
// instead. Each reservation is settled even when the run is interrupted between its two
// requests, so a run leaves nothing held.
package bench

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Scenario names.
const (
	ScenarioRead    = "read"    // GET /v1/products/{sku}, random SKU of the catalogue
	ScenarioReserve = "reserve" // reserve one unit of a random SKU, then commit (or release)
	ScenarioHot     = "hot"     // reserve one unit of the one hot SKU, then commit (or release)
	ScenarioMixed   = "mixed"   // 70% read, 20% reserve+settle, 10% adjustment (+1 receive)
	ScenarioReport  = "report"  // GET /v1/stats/summary
)

// Scenarios lists every scenario name in the order the help text shows them.
var Scenarios = []string{ScenarioRead, ScenarioReserve, ScenarioHot, ScenarioMixed, ScenarioReport}

// Settle modes: what the second half of a reserve operation does.
const (
	SettleCommit  = "commit"  // stock leaves: on_hand and reserved both fall by one
	SettleRelease = "release" // stock returns: reserved falls by one, on_hand is unchanged
)

// ErrUsage marks an invalid Options value (a command maps it to exit status 2).
var ErrUsage = errors.New("bad usage")

// Options configure a bench run. The zero value of every field but Target/DirectDSNs has a
// default (see the field comments); at least one of Target and DirectDSNs is required.
type Options struct {
	// Target is the gateway's base URL, e.g. http://127.0.0.1:8080. When set, the catalogue
	// is set up through it and the scenario runs against it.
	Target string
	// DirectDSNs are shard database DSNs (go-sql-driver/mysql form). When set, the same
	// scenario also runs as SQL straight against the shards, after the gateway run; without
	// Target the catalogue must already exist on the shards.
	DirectDSNs []string
	// Token is the API key sent to the gateway as "Authorization: Bearer <token>" (setup needs
	// the read and write scopes, the scenarios read and reserve); "" sends none (a gateway with
	// auth.mode none).
	Token string

	Scenario    string        // default "read"
	Duration    time.Duration // measured time, default 10s
	Warmup      time.Duration // load before the measurement starts, not recorded; default 0
	Concurrency int           // concurrent workers (and connections), default 32

	// Products is the size of the catalogue the read, reserve and mixed scenarios draw
	// random SKUs from, default 1000. SKUs are Prefix + a six-digit number.
	Products int
	// Prefix starts every SKU the bench creates, default "BENCH-". The hot SKU is Prefix+"HOT".
	Prefix string
	// Settle is what follows each reservation: "commit" (default) or "release".
	Settle string
	// RequestTimeout bounds each HTTP request or SQL transaction, default 10s.
	RequestTimeout time.Duration
	// SetupConcurrency bounds the parallel catalogue setup requests, default 16.
	SetupConcurrency int
	// SkipSetup trusts that the catalogue already exists and skips the check.
	SkipSetup bool
	// Seed makes the random SKU choices repeatable; 0 picks one from the clock.
	Seed uint64

	// JSON makes Run write only the Report, as indented JSON, to out. Otherwise Run writes
	// progress lines and then the Report as a table.
	JSON bool
}

// Defaults of Options.
const (
	DefaultScenario    = ScenarioRead
	DefaultDuration    = 10 * time.Second
	DefaultConcurrency = 32
	DefaultProducts    = 1000
	DefaultPrefix      = "BENCH-"
)

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Scenario == "" {
		o.Scenario = DefaultScenario
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Products == 0 {
		o.Products = DefaultProducts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Settle == "" {
		o.Settle = SettleCommit
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.SetupConcurrency == 0 {
		o.SetupConcurrency = 16
	}
	o.Target = strings.TrimSuffix(o.Target, "/")
	return o
}

// Validate reports the first invalid field, wrapping ErrUsage. Zero fields are valid (they
// take their defaults).
func (o Options) Validate() error {
	o = o.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
	}
	if o.Target == "" && len(o.DirectDSNs) == 0 {
		return bad("a target URL or at least one direct DSN is required")
	}
	if o.Target != "" {
		u, err := url.Parse(o.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("target %q is not an http(s) URL", o.Target)
		}
	}
	known := false
	for _, s := range Scenarios {
		known = known || s == o.Scenario
	}
	if !known {
		return bad("unknown scenario %q (one of %s)", o.Scenario, strings.Join(Scenarios, ", "))
	}
	switch {
	case o.Duration < 0:
		return bad("duration must be positive")
	case o.Warmup < 0:
		return bad("warm-up must not be negative")
	case o.Concurrency < 1 || o.Concurrency > 10000:
		return bad("concurrency must be 1-10000")
	case o.Products < 1 || o.Products > 1000000:
		return bad("products must be 1-1000000")
	case o.Settle != SettleCommit && o.Settle != SettleRelease:
		return bad("settle must be %q or %q", SettleCommit, SettleRelease)
	case o.RequestTimeout < 0:
		return bad("request timeout must be positive")
	case o.SetupConcurrency < 1:
		return bad("setup concurrency must be positive")
	case len(o.Prefix)+6 > 64:
		return bad("prefix %q is too long for a SKU", o.Prefix)
	}
	for _, c := range o.Prefix {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return bad("prefix %q has a character a SKU cannot have", o.Prefix)
		}
	}
	return nil
}

// Stock levels the setup establishes; far more than any run can drain (a run at 10,000
// commits/s for an hour takes 3.6e7 units from the hot SKU).
const (
	catalogueOnHand = 1_000_000_000
	hotOnHand       = 1_000_000_000_000
)

// catalogueSKUs returns the catalogue's SKUs.
func (o Options) catalogueSKUs() []string {
	out := make([]string, o.Products)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", o.Prefix, i+1)
	}
	return out
}

// hotSKU is the one SKU of the hot scenario.
func (o Options) hotSKU() string { return o.Prefix + "HOT" }

// scenarioSKUs returns the SKUs the scenario draws from.
func (o Options) scenarioSKUs() []string {
	if o.Scenario == ScenarioHot {
		return []string{o.hotSKU()}
	}
	return o.catalogueSKUs()
}
