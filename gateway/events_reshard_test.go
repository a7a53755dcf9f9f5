package gateway_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

// Events keep flowing through a reshard: while clients work, a shard is added and partitions
// move with their change-log rows (same origin, so the same event ids). Every change of every
// shard reaches the webhook, duplicates only as identical copies, and each SKU's (and each
// reservation's) events arrive in the order they happened — across the cutover too.
func TestEventsAcrossReshard(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2, Partitions: 32})
	g := c.StartGateway(t, gateway.Options{}, eventsConfig(configs.Default().Events))
	waitRelays(t, 2, 5*time.Second, g)
	const secret = "reshard-secret-0123456789"
	rcv := newReceiver(t, secret, 0, 0)
	g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": rcv.srv.URL, "secret": secret}), 201, "")

	w := clustertest.NewWorkload(t, []*clustertest.Client{g.Client}, 16, 500)
	ctx, cancel := context.WithCancel(context.Background())
	wait := w.Run(ctx, t, 4)
	time.Sleep(400 * time.Millisecond)
	r, err := migrate.NewResharder(c.MetaDSN, migrate.ReshardOptions{CutoverBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	job, err := r.Start(context.Background(), []migrate.ShardSpec{{Name: "shard-3", DSN: testdb.Server(t).NewDatabase(t, "shard3")}}, nil)
	time.Sleep(400 * time.Millisecond)
	cancel()
	wait()
	if err != nil || job.State != inventory.JobDone {
		t.Fatalf("reshard: %v (%s)", err, job.State)
	}
	waitRelays(t, 3, 5*time.Second, g)
	c.EventuallyInvariants(t, true, 15*time.Second)

	ids, order := expectedAcrossShards(t, c)
	waitDelivered(t, "webhook", 30*time.Second, ids, rcv.events)
	time.Sleep(200 * time.Millisecond)
	checkDelivery(t, "webhook", rcv.events(), ids, order)
	t.Logf("%d events across a reshard of %d partitions", len(ids), len(job.Moves))
}

// expectedAcrossShards reads the change log of every shard the topology knows (a reshard leaves
// copies: same origin, same event id) and orders each key's events as they happened: copies
// share the original's creation time, and a key's rows on one shard are in seq order.
func expectedAcrossShards(t *testing.T, c *clustertest.Cluster) (map[string]bool, map[string][]string) {
	t.Helper()
	top := c.Topology(t)
	type row struct {
		id   string
		at   time.Time
		oseq uint64
	}
	byKey := map[string][]row{}
	ids := map[string]bool{}
	for name, info := range top.Shards {
		st, err := shard.Open(name, info.DSN, shard.PoolOptions{MaxOpen: 2})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := st.DB().Query(`SELECT sku, kind, delta_on_hand, delta_reserved, ref, created_at,
			COALESCE(origin_shard, ?), COALESCE(origin_seq, seq) FROM changes ORDER BY seq`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var sku, kind, ref, oshard string
			var dOn, dRes int64
			var at time.Time
			var oseq uint64
			if err := rows.Scan(&sku, &kind, &dOn, &dRes, &ref, &at, &oshard, &oseq); err != nil {
				t.Fatal(err)
			}
			if shard.EventType(inventory.ChangeKind(kind), dOn, dRes) == "" {
				continue
			}
			id := shard.EventID(oshard, oseq)
			if ids[id] {
				continue // a copy made by the reshard
			}
			ids[id] = true
			key := "sku:" + sku
			if sku == "" {
				key = "reservation:" + ref
			}
			byKey[key] = append(byKey[key], row{id, at, oseq})
		}
		rows.Close()
		st.Close()
	}
	order := map[string][]string{}
	for key, rs := range byKey {
		sort.SliceStable(rs, func(i, j int) bool {
			if !rs[i].at.Equal(rs[j].at) {
				return rs[i].at.Before(rs[j].at)
			}
			return rs[i].oseq < rs[j].oseq
		})
		for _, r := range rs {
			order[key] = append(order[key], r.id)
		}
	}
	return ids, order
}
