package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Run sets up the scenario's catalogue through o.Target (unless o.SkipSetup), runs the
// scenario against the gateway, then, when o.DirectDSNs are given, the same scenario straight
// against the shards, and returns what it measured. It writes progress lines and a table to
// out, or only the Report as JSON when o.JSON is set. Invalid options fail with an error
// wrapping ErrUsage before anything is sent. Answers that are not 2xx do not fail the run;
// they are counted in the Report. When ctx ends early Run stops the workers and returns the
// partial Report with ctx's error.
func Run(ctx context.Context, o Options, out io.Writer) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	o = o.withDefaults()
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	rep := Report{Scenario: o.Scenario, Target: o.Target, Concurrency: o.Concurrency,
		DurationSeconds: o.Duration.Seconds(), WarmupSeconds: o.Warmup.Seconds(), Products: len(o.scenarioSKUs())}
	if o.Scenario == ScenarioReserve || o.Scenario == ScenarioHot || o.Scenario == ScenarioMixed {
		rep.Settle = o.Settle
	}
	progress := func(format string, args ...any) {
		if !o.JSON {
			fmt.Fprintf(out, "bench: "+format+"\n", args...)
		}
	}
	skus := o.scenarioSKUs()

	if o.Target != "" {
		client := newHTTPClient(o)
		defer client.CloseIdleConnections()
		if !o.SkipSetup {
			setup, err := setupCatalogue(ctx, o, client)
			if err != nil {
				return rep, err
			}
			rep.Setup = setup
			progress("catalogue of %d SKUs ready in %.1fs (%d present, %d created, %d stocked)",
				setup.Products, setup.Seconds, setup.Present, setup.Created, setup.Stocked)
		}
		urls := make([]string, len(skus))
		for i, s := range skus {
			urls[i] = o.Target + "/v1/products/" + s
		}
		progress("gateway: %s, %d workers, %s%s", o.Scenario, o.Concurrency, o.Duration, warmupText(o))
		rep.Gateway = runWorkers(ctx, o, "gateway", func(i int) operation {
			return &httpWorker{o: o, id: i, client: client, skus: skus, skuURLs: urls, rng: workerRand(o, i)}
		})
		if err := ctx.Err(); err != nil {
			return rep, finish(o, rep, out, err)
		}
	}

	if len(o.DirectDSNs) > 0 {
		if o.Scenario == ScenarioReport {
			rep.Notes = append(rep.Notes, "no direct baseline for the report scenario")
		} else {
			d, err := openDirect(ctx, o)
			if err != nil {
				return rep, err
			}
			defer d.Close()
			homes, err := d.locate(ctx, skus)
			if err != nil {
				return rep, err
			}
			progress("direct: %s, %d workers, %s%s over %d shards", o.Scenario, o.Concurrency, o.Duration, warmupText(o), len(d.dbs))
			rep.Direct = runWorkers(ctx, o, "direct", func(i int) operation {
				return &directWorker{o: o, id: i, skus: skus, homes: homes, rng: workerRand(o, i)}
			})
		}
	}
	if rep.Gateway != nil && rep.Direct != nil && rep.Direct.OKOpsPerSec > 0 {
		r := rep.Gateway.OKOpsPerSec / rep.Direct.OKOpsPerSec
		rep.GatewayToDirect = &r
	}
	return rep, finish(o, rep, out, ctx.Err())
}

// finish writes the report to out and returns err, or the write error.
func finish(o Options, rep Report, out io.Writer, err error) error {
	var werr error
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		werr = enc.Encode(rep)
	} else {
		if _, werr = fmt.Fprintln(out); werr == nil {
			werr = rep.WriteTable(out)
		}
	}
	if err != nil {
		return err
	}
	return werr
}

func warmupText(o Options) string {
	if o.Warmup > 0 {
		return " after " + o.Warmup.String() + " warm-up"
	}
	return ""
}

func workerRand(o Options, i int) *rand.Rand {
	return rand.New(rand.NewPCG(o.Seed, uint64(i)))
}

// operation is one worker's way of performing scenario operations.
type operation interface {
	runOp(ctx context.Context, rec *recorder)
}

// runWorkers runs o.Concurrency workers until the warm-up and the measured duration have passed
// (or ctx ends), each finishing the operation it started, and merges their measurements.
func runWorkers(ctx context.Context, o Options, mode string, newWorker func(i int) operation) *Result {
	begin := time.Now()
	w := window{start: begin.Add(o.Warmup), end: begin.Add(o.Warmup + o.Duration)}
	recs := make([]*recorder, o.Concurrency)
	var wg sync.WaitGroup
	for i := range recs {
		rec := newRecorder(w)
		recs[i] = rec
		worker := newWorker(i)
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(w.end) {
				worker.runOp(ctx, rec)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		stopped := time.Now()
		switch {
		case stopped.Before(w.start):
			w.end = w.start
		case stopped.Before(w.end):
			w.end = stopped
		}
	}
	return result(mode, w, recs)
}

// scenarioOps are the operations a worker (HTTP or direct SQL) performs; each records its own
// requests and reports whether the operation succeeded.
type scenarioOps interface {
	read(ctx context.Context, rec *recorder) bool
	reserveAndSettle(ctx context.Context, rec *recorder) bool
	adjust(ctx context.Context, rec *recorder) bool
}

// runScenarioOp performs and records one operation of the scenario: the same mix for every mode.
func runScenarioOp(ctx context.Context, w scenarioOps, scenario string, rng *rand.Rand, rec *recorder) {
	start := time.Now()
	var ok bool
	switch scenario {
	case ScenarioRead:
		ok = w.read(ctx, rec)
	case ScenarioReserve, ScenarioHot:
		ok = w.reserveAndSettle(ctx, rec)
	case ScenarioMixed:
		switch n := rng.IntN(100); {
		case n < 70:
			ok = w.read(ctx, rec)
		case n < 90:
			ok = w.reserveAndSettle(ctx, rec)
		default:
			ok = w.adjust(ctx, rec)
		}
	}
	rec.op(start, time.Now(), ok)
}
