package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

func newResharder(t *testing.T, c *clustertest.Cluster, o migrate.ReshardOptions) *migrate.Resharder {
	t.Helper()
	if o.CutoverBatch == 0 {
		o.CutoverBatch = 4
	}
	r, err := migrate.NewResharder(c.MetaDSN, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Add a shard and, separately, remove one while 8 clients work through two gateways.
func TestReshardUnderLoad(t *testing.T) {
	for _, mode := range []string{"add", "remove"} {
		t.Run(mode, func(t *testing.T) {
			c := clustertest.New(t, clustertest.Options{Shards: 3})
			g1 := c.StartGateway(t, gateway.Options{}, nil)
			g2 := c.StartGateway(t, gateway.Options{}, nil)
			w := clustertest.NewWorkload(t, []*clustertest.Client{g1.Client, g2.Client}, 40, 1000)
			ctx, stop := context.WithCancel(context.Background())
			wait := w.Run(ctx, t, 8)
			time.Sleep(500 * time.Millisecond)

			r := newResharder(t, c, migrate.ReshardOptions{Parallel: 4})
			var add []migrate.ShardSpec
			var remove []string
			if mode == "add" {
				add = []migrate.ShardSpec{{Name: "shard-4", DSN: testdb.Server(t).NewDatabase(t, "shard4")}}
			} else {
				remove = []string{"shard-2"}
			}
			job, err := r.Start(context.Background(), add, remove)
			if err != nil {
				stop()
				wait()
				t.Fatalf("reshard: %v", err)
			}
			time.Sleep(500 * time.Millisecond) // traffic continues on the new topology
			stop()
			wait()
			if job.State != inventory.JobDone {
				t.Fatalf("job state %s", job.State)
			}
			sum := job.Summary()
			t.Logf("%s: %d partitions moved, %d rows copied, max write pause %d ms; %d requests, %d retried, %d errors",
				mode, sum.Partitions, sum.RowsCopied, sum.MaxPauseMillis, w.Requests.Load(), w.Retries.Load(), w.Errors.Load())
			if w.Errors.Load() != 0 {
				t.Errorf("%d unexpected answers during the reshard", w.Errors.Load())
			}
			top := c.Topology(t)
			if top.Version < 2 {
				t.Errorf("topology version %d after reshard", top.Version)
			}
			counts := top.Map.Counts()
			if mode == "add" && counts["shard-4"] == 0 || mode == "remove" && counts["shard-2"] != 0 {
				t.Errorf("partition counts after %s: %v", mode, counts)
			}
			c.EventuallyInvariants(t, true, 30*time.Second)
			w.CheckQuantities(t, g1.Client)
			// Cleanup removes the leftovers on the sources; the cluster stays clean.
			res, err := r.Cleanup(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("cleanup: %+v", res)
			if rep := c.RequireInvariants(t, true); rep.Leftovers != 0 {
				t.Errorf("%d leftover rows after cleanup", rep.Leftovers)
			}
			w.CheckQuantities(t, g2.Client)
		})
	}
}

// underLoad starts a cluster with one gateway and products products, which clients work on
// until stop is called (stop may be called more than once).
func underLoad(t *testing.T, o clustertest.Options, products, clients int) (*clustertest.Cluster, *clustertest.Gateway, *clustertest.Workload, func()) {
	t.Helper()
	c := clustertest.New(t, o)
	g := c.StartGateway(t, gateway.Options{}, nil)
	w := clustertest.NewWorkload(t, []*clustertest.Client{g.Client}, products, 100)
	ctx, cancel := context.WithCancel(context.Background())
	wait := w.Run(ctx, t, clients)
	return c, g, w, func() { cancel(); wait() }
}

var errCrash = errors.New("simulated crash")

// Kill the mover after each phase, resume with a fresh one: same end state, clean verify.
// Abort from every pre-cutover phase leaves the original cluster clean.
func TestReshardCrashResumeAndAbort(t *testing.T) {
	phases := []string{"plan_saved", "mid_copy", "mid_catchup", "fence_flipped", "topology_published"}
	for _, phase := range phases {
		for _, then := range []string{"resume", "abort"} {
			preCutover := phase == "plan_saved" || phase == "mid_copy" || phase == "mid_catchup"
			if then == "abort" && !preCutover {
				continue
			}
			t.Run(phase+"/"+then, func(t *testing.T) {
				t.Parallel()
				c, g, w, stop := underLoad(t, clustertest.Options{Shards: 2, Partitions: 32}, 30, 4)
				defer stop()
				time.Sleep(200 * time.Millisecond)
				add := []migrate.ShardSpec{{Name: "shard-3", DSN: testdb.Server(t).NewDatabase(t, "shard3")}}
				before := c.Topology(t)
				crashing := newResharder(t, c, migrate.ReshardOptions{Parallel: 2, Failpoint: func(s string) error {
					if s == phase {
						return errCrash
					}
					return nil
				}})
				job, err := crashing.Start(context.Background(), add, nil)
				if !errors.Is(err, errCrash) {
					t.Fatalf("mover did not stop at %s: %v", phase, err)
				}
				crashing.Close()
				fresh := newResharder(t, c, migrate.ReshardOptions{Parallel: 2})
				switch then {
				case "resume":
					job, err = fresh.Run(context.Background(), job.ID)
					if err != nil || job.State != inventory.JobDone {
						t.Fatalf("resume: %v (%s)", err, job.State)
					}
					if c.Topology(t).Map.Counts()["shard-3"] == 0 {
						t.Error("shard-3 owns nothing after resume")
					}
				case "abort":
					job, err = fresh.Abort(context.Background(), job.ID)
					if err != nil || job.State != inventory.JobAborted {
						t.Fatalf("abort: %v (%s)", err, job.State)
					}
					after := c.Topology(t)
					if after.Version != before.Version {
						t.Errorf("abort published a topology: version %d → %d", before.Version, after.Version)
					}
				}
				stop()
				c.EventuallyInvariants(t, true, 30*time.Second)
				w.CheckQuantities(t, g.Client)
				if then == "abort" {
					var n int
					st := migrateStore(t, add[0].DSN)
					if err := st.QueryRow("SELECT COUNT(*) FROM products").Scan(&n); err != nil || n != 0 {
						t.Errorf("aborted target still holds %d products (%v)", n, err)
					}
				}
			})
		}
	}
}

func migrateStore(t *testing.T, dsn string) interface {
	QueryRow(string, ...any) interface{ Scan(...any) error }
} {
	t.Helper()
	return sqlDB{openDB(t, dsn)}
}

// Plan changes nothing and moves the ideal share of partitions.
func TestReshardPlan(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 4, Partitions: 1024})
	r := newResharder(t, c, migrate.ReshardOptions{})
	p, err := r.Plan(context.Background(), []migrate.ShardSpec{{Name: "shard-5", DSN: "x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Moves) != 205 && len(p.Moves) != 204 {
		t.Errorf("add 5th shard moves %d partitions, ideal is 1024/5≈205", len(p.Moves))
	}
	if p.After.Partitions.MaxOverAvg > 1.01 {
		t.Errorf("balance after: %+v", p.After.Partitions)
	}
	p, err = r.Plan(context.Background(), nil, []string{"shard-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Moves {
		if m.From != "shard-1" {
			t.Errorf("removing shard-1 moves partition %d from %s", m.Partition, m.From)
		}
	}
	for _, bad := range []struct {
		add    []migrate.ShardSpec
		remove []string
	}{
		{[]migrate.ShardSpec{{Name: "shard-1", DSN: "x"}}, nil},
		{[]migrate.ShardSpec{{Name: "bad name", DSN: "x"}}, nil},
		{nil, []string{"nope"}},
		{nil, []string{"shard-1", "shard-2", "shard-3", "shard-4"}},
		{nil, nil},
	} {
		if _, err := r.Plan(context.Background(), bad.add, bad.remove); err == nil {
			t.Errorf("plan %+v accepted", bad)
		}
	}
	if v := c.Topology(t).Version; v != 1 {
		t.Errorf("plan changed the topology to version %d", v)
	}
	_ = fmt.Sprint()
}

// The copy's progress reporter reads the job's moves twice a second while the copy workers
// update them: with a progress callback and a copy slowed down by the rate limit (well over
// 500 ms), the race detector sees no unsynchronised access, every report is consistent, and the
// cluster ends clean under traffic.
func TestReshardProgressDuringSlowCopy(t *testing.T) {
	c, g, w, stop := underLoad(t, clustertest.Options{Shards: 2, Partitions: 16}, 40, 2)
	defer stop()

	var mu sync.Mutex
	var copyReports []migrate.Progress
	r := newResharder(t, c, migrate.ReshardOptions{Parallel: 4, ChunkRows: 2, MaxRowsPerSec: 80,
		OnProgress: func(phase string, p migrate.Progress) {
			if phase != "copy" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			copyReports = append(copyReports, p)
		}})
	add := []migrate.ShardSpec{{Name: "shard-3", DSN: testdb.Server(t).NewDatabase(t, "shard3")}}
	job, err := r.Start(context.Background(), add, nil)
	if err != nil || job.State != inventory.JobDone {
		t.Fatalf("reshard: %v (%s)", err, job.State)
	}
	stop()
	mu.Lock()
	reports := copyReports
	mu.Unlock()
	if len(reports) < 2 {
		t.Fatalf("%d progress reports during the copy: the copy was too fast to exercise the reporter", len(reports))
	}
	for _, p := range reports {
		if p.PartitionsCopied > p.Partitions || p.PartitionsDone != 0 {
			t.Errorf("inconsistent copy report %+v", p)
		}
	}
	t.Logf("%d copy reports, last %+v", len(reports), reports[len(reports)-1])
	c.EventuallyInvariants(t, true, 30*time.Second)
	w.CheckQuantities(t, g.Client)
}
