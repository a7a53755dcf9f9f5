package gateway_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/router"
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
	time.Sleep(200 * time.Millisecond)
	before := c.Topology(t)
	firstPages := map[string]clustertest.Response{}
	for _, sku := range w.SKUs {
		firstPages[sku] = g.Expect(g.Do("GET", "/v1/products/"+sku+"/history?limit=2", nil), 200, "")
	}
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
	c.EventuallyInvariants(t, true, 30*time.Second)

	ids, order := expectedAcrossShards(t, c)
	checkHistoryAcrossReshard(t, c, g, w.SKUs, before, firstPages, ids)
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

// checkHistoryAcrossReshard: the history moved with the change rows. Every SKU's history is its
// whole ledger (the resulting quantities chain from zero to the product's stock), every entry
// names its actor (and the request id, for the API key's), an entry's id is the id of the event
// the row published, and a cursor taken before the reshard continues after it exactly where
// the same history read now continues (at least one of the SKUs moved to another shard).
func checkHistoryAcrossReshard(t *testing.T, c *clustertest.Cluster, g *clustertest.Gateway, skus []string, before shard.Topology,
	firstPages map[string]clustertest.Response, eventIDs map[string]bool) {
	t.Helper()
	after := c.Topology(t)
	adminID, _, err := auth.ParseToken(c.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	workers := map[string]bool{inventory.ActorExpiry: true, inventory.ActorRecovery: true, inventory.ActorAlertReconcile: true}
	moved := 0
	for _, sku := range skus {
		p := router.Partition(sku, after.Partitions)
		from, _ := before.Map.Owner(p)
		to, _ := after.Map.Owner(p)
		if from != to {
			moved++
		}
		full := readHistory(t, g.Client, sku, 1000)
		checkChain(t, g.Client, sku, full)
		for _, e := range full {
			if !(e.actor == adminID && e.requestID != "" || workers[e.actor]) {
				t.Errorf("%s: entry %s (%s) by %q, request %q", sku, e.id, e.kind, e.actor, e.requestID)
			}
			if shard.EventType(inventory.ChangeKind(e.kind), e.dOnHand, e.dReserved) != "" && !eventIDs[e.id] {
				t.Errorf("%s: entry %s (%s) is not the id of its event", sku, e.id, e.kind)
			}
		}
		first := firstPages[sku]
		entries := first.Body["entries"].([]any)
		last := entries[len(entries)-1].(map[string]any)["id"].(string)
		at := -1
		for i, e := range full {
			if e.id == last {
				at = i
			}
		}
		if at < 0 {
			t.Errorf("%s: entry %s of the page read before the reshard is gone", sku, last)
			continue
		}
		rest := readHistoryFrom(t, g.Client, sku, first.Str("next_cursor"))
		if fmt.Sprint(rest) != fmt.Sprint(full[at+1:]) {
			t.Errorf("%s (moved %s → %s): the cursor taken before the reshard continues with\n%v\nwant\n%v", sku, from, to, rest, full[at+1:])
		}
	}
	if moved == 0 {
		t.Errorf("none of the %d SKUs moved: the cursor check proves nothing", len(skus))
	}
	t.Logf("history of %d SKUs checked, %d of them moved", len(skus), moved)
}
