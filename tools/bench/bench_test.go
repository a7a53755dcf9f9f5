package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func shardDSNs(c *clustertest.Cluster) []string {
	out := make([]string, len(c.Shards))
	for i, s := range c.Shards {
		out[i] = s.DSN
	}
	return out
}

// requireOrdered checks p50 <= p90 <= p99 <= max and a sample count.
func requireOrdered(t *testing.T, what string, l Latency) {
	t.Helper()
	if l.Count == 0 {
		t.Errorf("%s: no samples", what)
		return
	}
	if !(l.P50Ms > 0 && l.P50Ms <= l.P90Ms && l.P90Ms <= l.P99Ms && l.P99Ms <= l.MaxMs) {
		t.Errorf("%s: percentiles out of order: %+v", what, l)
	}
}

// requireConsistent checks the counts of one run against each other.
func requireConsistent(t *testing.T, res *Result, wantOK func(status string) bool) {
	t.Helper()
	if res == nil {
		t.Fatal("no result")
	}
	// At the window's edges an operation can end inside it while its (only) request ended just
	// before, so operations may exceed requests by at most one per worker.
	const edge = 64
	if res.Ops == 0 || res.Requests+edge < res.Ops || res.OpsPerSec <= 0 || res.RequestsPerSec+edge < res.OpsPerSec {
		t.Errorf("%s: implausible counts: ops %d requests %d ops/s %.1f req/s %.1f", res.Mode, res.Ops, res.Requests, res.OpsPerSec, res.RequestsPerSec)
	}
	if res.FailedOps != res.Ops-res.OKOps {
		t.Errorf("%s: failed ops %d != %d - %d", res.Mode, res.FailedOps, res.Ops, res.OKOps)
	}
	var statuses, byKind int64
	for s, n := range res.Statuses {
		statuses += n
		if wantOK != nil && !wantOK(s) {
			t.Errorf("%s: %d answers with status %s; samples: %q", res.Mode, n, s, res.ErrorSamples)
		}
	}
	if statuses+res.TransportErrors != res.Requests {
		t.Errorf("%s: statuses %d + transport errors %d != requests %d", res.Mode, statuses, res.TransportErrors, res.Requests)
	}
	if wantOK != nil && (res.TransportErrors != 0 || res.OKOps != res.Ops) {
		t.Errorf("%s: %d transport errors, %d of %d ops failed; samples: %q", res.Mode, res.TransportErrors, res.FailedOps, res.Ops, res.ErrorSamples)
	}
	for k, l := range res.ByRequest {
		byKind += l.Count
		requireOrdered(t, res.Mode+" "+k, l)
	}
	if byKind != res.Requests {
		t.Errorf("%s: per-kind counts sum to %d, requests %d", res.Mode, byKind, res.Requests)
	}
	requireOrdered(t, res.Mode+" requests", res.Latency)
	requireOrdered(t, res.Mode+" ops", res.OpLatency)
}

func is2xx(s string) bool   { return len(s) == 3 && s[0] == '2' }
func isOK(s string) bool    { return s == "ok" }
func anyStatus(string) bool { return true }

// TestScenarios runs every scenario briefly against an in-process gateway and, where there is
// one, the direct baseline on the same shards, then checks the cluster's invariants: neither
// mode may leave the ledger, the held lines or a reservation inconsistent.
func TestScenarios(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	dsns := shardDSNs(c)

	for _, tc := range []struct {
		scenario string
		settle   string
		gwOK     func(string) bool
		kinds    []string
	}{
		{ScenarioRead, "", is2xx, []string{"read"}},
		{ScenarioReserve, SettleCommit, is2xx, []string{"reserve", "commit"}},
		{ScenarioHot, SettleCommit, is2xx, []string{"reserve", "commit"}},
		{ScenarioHot, SettleRelease, is2xx, []string{"reserve", "release"}},
		{ScenarioMixed, SettleCommit, is2xx, []string{"read", "reserve", "commit", "adjust"}},
		{ScenarioReport, "", anyStatus, []string{"report"}},
	} {
		name := tc.scenario
		if tc.settle != "" {
			name += "-" + tc.settle
		}
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			rep, err := Run(context.Background(), Options{Target: g.HTTP.URL, Token: c.AdminToken, DirectDSNs: dsns, Scenario: tc.scenario,
				Settle: tc.settle, Duration: time.Second, Warmup: 200 * time.Millisecond, Concurrency: 6, Products: 40, Seed: 1}, &out)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			t.Logf("\n%s", out.String())
			requireConsistent(t, rep.Gateway, tc.gwOK)
			for _, k := range tc.kinds {
				if rep.Gateway.ByRequest[k].Count == 0 {
					t.Errorf("gateway: no %s requests", k)
				}
			}
			if tc.scenario == ScenarioReport {
				if rep.Direct != nil || len(rep.Notes) == 0 {
					t.Errorf("report scenario: want no direct run and a note, got %+v %q", rep.Direct, rep.Notes)
				}
				return
			}
			requireConsistent(t, rep.Direct, isOK)
			for _, k := range tc.kinds {
				if rep.Direct.ByRequest[k].Count == 0 {
					t.Errorf("direct: no %s transactions", k)
				}
			}
			if rep.GatewayToDirect == nil || *rep.GatewayToDirect <= 0 {
				t.Errorf("no gateway/direct ratio")
			}
			if rep.Setup == nil || rep.Setup.Products != rep.Products {
				t.Errorf("setup report %+v for %d products", rep.Setup, rep.Products)
			}
			if !strings.Contains(out.String(), "gateway/direct throughput") {
				t.Errorf("table without the ratio:\n%s", out.String())
			}
		})
	}
	// Let the last settles land and the workers of the gateway idle, then check everything.
	time.Sleep(300 * time.Millisecond)
	rep := c.RequireInvariants(t, true)
	if rep.Reservations == 0 {
		t.Fatal("the verifier saw no reservations")
	}
}

// TestSetupIsIdempotentAndDirectOnly: a second setup leaves a ready catalogue alone, tops up a
// drained product, and the direct mode runs without a target on a catalogue that exists.
func TestSetupIsIdempotentAndDirectOnly(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	g := c.StartGateway(t, gateway.Options{}, nil)
	o := Options{Target: g.HTTP.URL, Token: c.AdminToken, Scenario: ScenarioRead, Duration: 300 * time.Millisecond, Concurrency: 2, Products: 30, Prefix: "IDEM-"}
	first, err := Run(context.Background(), o, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Setup.Created != 30 || first.Setup.Stocked != 30 || first.Setup.Present != 0 {
		t.Fatalf("first setup: %+v", first.Setup)
	}
	// Drain one product below half of the target: the next setup restocks just that one.
	st := g.Do("PUT", "/v1/products/IDEM-000007/stock", `{"on_hand": 5}`)
	if st.Status != 200 {
		t.Fatalf("set stock: %d %s", st.Status, st.Raw)
	}
	second, err := Run(context.Background(), o, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Setup.Created != 0 || second.Setup.Stocked != 1 || second.Setup.Present != 29 {
		t.Fatalf("second setup: %+v", second.Setup)
	}

	var out bytes.Buffer
	o.Target, o.DirectDSNs, o.Scenario, o.JSON = "", shardDSNs(c), ScenarioReserve, true
	rep, err := Run(context.Background(), o, &out)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Report
	if err := json.Unmarshal(out.Bytes(), &decoded); err != nil {
		t.Fatalf("--json output is not a Report: %v\n%s", err, out.String())
	}
	if decoded.Gateway != nil || decoded.Direct == nil || decoded.Direct.Ops != rep.Direct.Ops {
		t.Fatalf("decoded report %+v differs from %+v", decoded, rep)
	}
	requireConsistent(t, rep.Direct, isOK)

	o.Prefix = "NOPE-"
	if _, err := Run(context.Background(), o, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "none of the given shards") {
		t.Fatalf("direct run without a catalogue: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	c.RequireInvariants(t, true)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults with a target", Options{Target: "http://127.0.0.1:8080"}, true},
		{"direct only", Options{DirectDSNs: []string{"root@tcp(127.0.0.1:3306)/s1"}}, true},
		{"nothing to run against", Options{}, false},
		{"not a URL", Options{Target: "127.0.0.1:8080"}, false},
		{"unknown scenario", Options{Target: "http://x", Scenario: "write"}, false},
		{"negative duration", Options{Target: "http://x", Duration: -time.Second}, false},
		{"negative warm-up", Options{Target: "http://x", Warmup: -time.Second}, false},
		{"too much concurrency", Options{Target: "http://x", Concurrency: 10001}, false},
		{"bad settle", Options{Target: "http://x", Settle: "keep"}, false},
		{"bad prefix", Options{Target: "http://x", Prefix: "a b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrUsage) {
				t.Fatalf("error %v does not wrap ErrUsage", err)
			}
		})
	}
	if _, err := Run(context.Background(), Options{}, &bytes.Buffer{}); !errors.Is(err, ErrUsage) {
		t.Fatalf("Run with no target: %v", err)
	}
}

func TestSummarize(t *testing.T) {
	lat := make([]time.Duration, 0, 1000)
	for i := 1000; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := summarize(lat)
	want := Latency{Count: 1000, MeanMs: 500.5, P50Ms: 500, P90Ms: 900, P99Ms: 990, MaxMs: 1000}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if one := summarize([]time.Duration{3 * time.Millisecond}); one.P50Ms != 3 || one.P99Ms != 3 || one.MaxMs != 3 {
		t.Fatalf("one sample: %+v", one)
	}
	if (summarize(nil) != Latency{}) {
		t.Fatal("no samples should summarise to zero")
	}
}

func TestRecorderWindow(t *testing.T) {
	t0 := time.Now()
	r := newRecorder(window{start: t0, end: t0.Add(time.Second)})
	r.request(kindRead, t0.Add(-2*time.Millisecond), t0.Add(-time.Millisecond), "200", nil) // warm-up: dropped
	r.request(kindRead, t0, t0.Add(time.Millisecond), "200", nil)
	r.request(kindReserve, t0, t0.Add(2*time.Millisecond), "409", errors.New("short"))
	r.request(kindReserve, t0, t0.Add(3*time.Millisecond), "", errors.New("refused"))
	r.request(kindRead, t0, t0.Add(time.Second), "200", nil) // finishes at the end: dropped
	r.op(t0, t0.Add(time.Millisecond), true)
	r.op(t0, t0.Add(2*time.Millisecond), false)
	res := result("gateway", r.w, []*recorder{r})
	if res.Requests != 3 || res.Ops != 2 || res.OKOps != 1 || res.TransportErrors != 1 ||
		res.Statuses["200"] != 1 || res.Statuses["409"] != 1 || len(res.ErrorSamples) != 2 || res.RequestsPerSec != 3 {
		t.Fatalf("result: %+v", res)
	}
}

func TestJSONStringField(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"id":"r00012ABC","order_id":"o1"}`, "r00012ABC"},
		{`{"order_id":"x","id" : "r1"}`, "r1"},
		{`{"note":"id","id":"r2"}`, "r2"},
		{`{"order_id":"x"}`, ""},
		{`{"id":12}`, ""},
	} {
		if got := jsonStringField([]byte(tc.body), "id"); got != tc.want {
			t.Errorf("jsonStringField(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

var (
	benchDuration    = flag.Duration("scenario.duration", 10*time.Second, "BenchmarkScenarios: measured time per scenario and mode")
	benchWarmup      = flag.Duration("scenario.warmup", time.Second, "BenchmarkScenarios: warm-up per scenario and mode")
	benchConcurrency = flag.Int("scenario.concurrency", 32, "BenchmarkScenarios: concurrent workers")
	benchShards      = flag.Int("scenario.shards", 4, "BenchmarkScenarios: shards of the cluster")
	benchScenarios   = flag.String("scenario.list", "read,reserve,hot,mixed,report", "BenchmarkScenarios: scenarios to run")
	benchProducts    = flag.Int("scenario.products", 1000, "BenchmarkScenarios: catalogue size")
	benchReadCache   = flag.Bool("scenario.readcache", false, "BenchmarkScenarios: enable the gateway's read cache")
)

// BenchmarkScenarios measures every scenario against an in-process gateway over a fresh
// cluster and, except for report, the direct baseline on the same shards, printing each
// table. It asserts nothing about time. Run it once:
//
//	go test -run '^$' -bench BenchmarkScenarios -benchtime 1x ./tools/bench/ -args -scenario.duration 10s
func BenchmarkScenarios(b *testing.B) {
	c := clustertest.New(b, clustertest.Options{Shards: *benchShards, Partitions: 1024})
	g := c.StartGateway(b, gateway.Options{}, func(cfg *configs.Config) { cfg.ReadCache.Enabled = *benchReadCache })
	for _, sc := range strings.Split(*benchScenarios, ",") {
		b.Run(sc, func(b *testing.B) {
			for b.Loop() {
				o := Options{Target: g.HTTP.URL, Token: c.AdminToken, DirectDSNs: shardDSNs(c), Scenario: sc, Duration: *benchDuration,
					Warmup: *benchWarmup, Concurrency: *benchConcurrency, Products: *benchProducts}
				rep, err := Run(context.Background(), o, os.Stdout)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(rep.Gateway.OKOpsPerSec, "gw-ops/s")
				b.ReportMetric(rep.Gateway.Latency.P99Ms, "gw-p99-ms")
				if rep.Direct != nil {
					b.ReportMetric(rep.Direct.OKOpsPerSec, "direct-ops/s")
				}
				js, _ := json.Marshal(rep)
				fmt.Fprintf(os.Stdout, "JSON %s\n", js)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	c.RequireInvariants(b, true)
}

// BenchmarkHotCoalescing runs the hot scenario (every client on one SKU, reserve then commit)
// against a gateway with coalescing off, one with it on, and straight SQL, in the same run and
// on the same cluster, and prints the figures and ratios.
//
//	go test -run '^$' -bench BenchmarkHotCoalescing -benchtime 1x ./tools/bench/ -args -scenario.duration 10s
func BenchmarkHotCoalescing(b *testing.B) {
	c := clustertest.New(b, clustertest.Options{Shards: *benchShards, Partitions: 1024})
	on := c.StartGateway(b, gateway.Options{}, nil)
	off := c.StartGateway(b, gateway.Options{}, func(cfg *configs.Config) { cfg.Coalesce.Enabled = false })
	for b.Loop() {
		run := func(target string, direct []string) Report {
			o := Options{Target: target, Token: c.AdminToken, DirectDSNs: direct, Scenario: ScenarioHot, Duration: *benchDuration,
				Warmup: *benchWarmup, Concurrency: *benchConcurrency, Products: *benchProducts, JSON: true}
			rep, err := Run(context.Background(), o, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			return rep
		}
		offRep := run(off.HTTP.URL, nil)
		onRep := run(on.HTTP.URL, shardDSNs(c))
		row := func(name string, r *Result) {
			fmt.Printf("  %-22s %8.0f ops/s  p50 %6.1f ms  p99 %6.1f ms  (per request: p50 %5.1f, p99 %5.1f ms)\n", name, r.OKOpsPerSec,
				r.OpLatency.P50Ms, r.OpLatency.P99Ms, r.Latency.P50Ms, r.Latency.P99Ms)
		}
		fmt.Printf("\nhot SKU, reserve+commit, %d clients, %s each:\n", *benchConcurrency, *benchDuration)
		row("gateway, coalescing off", offRep.Gateway)
		row("gateway, coalescing on", onRep.Gateway)
		row("direct SQL (no batching)", onRep.Direct)
		fmt.Printf("  coalescing on/off %.2f×, on/direct %.2f×\n", onRep.Gateway.OKOpsPerSec/offRep.Gateway.OKOpsPerSec,
			onRep.Gateway.OKOpsPerSec/onRep.Direct.OKOpsPerSec)
	}
	time.Sleep(500 * time.Millisecond)
	c.RequireInvariants(b, true)
}

// BenchmarkAuthOverhead measures what API-key authentication costs the read scenario: two
// gateways over one cluster, one with auth.mode keys (the bench sends the key) and one with
// auth.mode none, loaded at the same time by half of the clients each (-auth.rounds rounds), so
// that both see the same machine: on a shared, noisy machine two runs one after the other
// differ by more than the effect measured. It prints each round and the ratio of the summed
// throughputs (keys / none). It asserts nothing about time.
//
//	go test -run '^$' -bench BenchmarkAuthOverhead -benchtime 1x ./tools/bench/ -args -scenario.duration 10s
func BenchmarkAuthOverhead(b *testing.B) {
	c := clustertest.New(b, clustertest.Options{Shards: *benchShards, Partitions: 1024})
	keys := c.StartGateway(b, gateway.Options{}, nil)
	none := c.StartGateway(b, gateway.Options{}, func(cfg *configs.Config) { cfg.Auth.Mode = configs.AuthNone })
	base := Options{Scenario: ScenarioRead, Duration: *benchDuration, Warmup: *benchWarmup, Concurrency: max(1, *benchConcurrency/2),
		Products: *benchProducts, SkipSetup: true, JSON: true}
	setup := base
	setup.Target, setup.Token = keys.HTTP.URL, c.AdminToken
	if _, err := setupCatalogue(context.Background(), setup.withDefaults(), newHTTPClient(setup.withDefaults())); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var sum [2]float64
		for round := range *authRounds {
			var reps [2]Report
			var errs [2]error
			var wg sync.WaitGroup
			for i, g := range []*clustertest.Gateway{none, keys} {
				o := base
				o.Target = g.HTTP.URL
				if g == keys {
					o.Token = c.AdminToken
				}
				wg.Go(func() { reps[i], errs[i] = Run(context.Background(), o, io.Discard) })
			}
			wg.Wait()
			for i, r := range reps {
				if errs[i] != nil {
					b.Fatal(errs[i])
				}
				if r.Gateway.FailedOps != 0 {
					b.Fatalf("%d failed reads: %q", r.Gateway.FailedOps, r.Gateway.ErrorSamples)
				}
				sum[i] += r.Gateway.OKOpsPerSec
			}
			n, k := reps[0].Gateway, reps[1].Gateway
			fmt.Printf("  round %d: auth none %6.0f reads/s (p50 %5.2f, p99 %6.2f ms)  auth keys %6.0f reads/s (p50 %5.2f, p99 %6.2f ms)  keys/none %.3f\n",
				round+1, n.OKOpsPerSec, n.Latency.P50Ms, n.Latency.P99Ms, k.OKOpsPerSec, k.Latency.P50Ms, k.Latency.P99Ms, k.OKOpsPerSec/n.OKOpsPerSec)
		}
		ratio := sum[1] / sum[0]
		fmt.Printf("read scenario, %d + %d clients at once, %d × %s: auth keys / none = %.3f\n", base.Concurrency, base.Concurrency,
			*authRounds, *benchDuration, ratio)
		b.ReportMetric(ratio, "keys/none")
	}
}

var authRounds = flag.Int("auth.rounds", 3, "BenchmarkAuthOverhead: rounds (each loads both gateways at once)")
