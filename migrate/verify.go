package migrate

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// Violation is one broken invariant found by Verify.
type Violation struct {
	Kind   string `json:"kind"`
	Shard  string `json:"shard,omitempty"`
	SKU    string `json:"sku,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Detail string `json:"detail"`
}

func (v Violation) String() string {
	s := v.Kind
	for _, kv := range [][2]string{{"shard", v.Shard}, {"sku", v.SKU}, {"ref", v.Ref}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	return s + ": " + v.Detail
}

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// Quiescent also requires that no reservation saga is in flight (no pending, committing,
	// releasing or expiring header). Use it when no traffic runs.
	Quiescent bool
	// Parallel bounds how many shards are scanned at once (0: all).
	Parallel int
}

// VerifyReport is Verify's result.
type VerifyReport struct {
	Products     int64       `json:"products"`
	Reservations int64       `json:"reservations"`
	Lines        int64       `json:"lines"`
	Changes      int64       `json:"changes"`
	Leftovers    int64       `json:"leftover_rows"`
	Violations   []Violation `json:"violations"`
}

// Clean reports whether no invariant is broken.
func (r VerifyReport) Clean() bool { return len(r.Violations) == 0 }

type productRow struct {
	sku                          string
	partition                    int
	onHand, reserved             int64
	ledgerOnHand, ledgerReserved int64
	heldLines                    int64
	// Lots of a lot-tracked product: how many, their remaining sum, and how many are out of
	// bounds (remaining < 0 or > received).
	lots, lotRemaining, badLots int64
}

type headerRow struct {
	id     string
	status inventory.Status
	lines  []shard.LineRequest
	shard  string
}

type lineRow struct {
	id, sku string
	status  inventory.LineStatus
	qty     int64
	shard   string
}

type shardScan struct {
	fences   map[int]inventory.FenceState
	leftover int64 // rows in partitions this shard no longer owns (awaiting cleanup)
	products []productRow
	headers  []headerRow
	lines    []lineRow
	changes  int64
}

// Verify checks ARCHITECTURE.md's invariants over the whole cluster, one shard scan in parallel
// per shard: 0 <= reserved <= on_hand; on_hand and reserved equal the product's ledger base (the
// sums of its archived change rows) plus the sums of its change-log deltas; reserved equals its
// held reservation lines; every product sits on the owner of its partition, exactly once; a lot-tracked product's on_hand equals the remaining
// quantities of its lots (expired ones not swept yet, or held back by reservations, included);
// every reservation is whole (final headers have no held lines, held headers have every line
// held, no held line without a live header).
func Verify(ctx context.Context, t shard.Topology, stores map[string]*shard.Store, opts VerifyOptions) (VerifyReport, error) {
	scans := map[string]*shardScan{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, max(opts.Parallel, len(stores), 1))
	if opts.Parallel > 0 {
		sem = make(chan struct{}, opts.Parallel)
	}
	for name, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sc, err := scanShard(ctx, st)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("shard %s: %w", name, err)
			}
			scans[name] = sc
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return VerifyReport{}, firstErr
	}
	var rep VerifyReport
	add := func(v Violation) { rep.Violations = append(rep.Violations, v) }
	where := map[string]string{}
	headers := map[string]headerRow{}
	lines := map[string][]lineRow{}
	names := make([]string, 0, len(scans))
	for n := range scans {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sc := scans[name]
		rep.Changes += sc.changes
		rep.Leftovers += sc.leftover
		for _, p := range sc.products {
			rep.Products++
			if prev, dup := where[p.sku]; dup {
				add(Violation{"duplicate_product", name, p.sku, "", "also on shard " + prev})
			}
			where[p.sku] = name
			if want := router.Partition(p.sku, t.Partitions); p.partition != want {
				add(Violation{"wrong_partition", name, p.sku, "", fmt.Sprintf("partition_id %d, hash says %d", p.partition, want)})
			}
			if owner, _ := t.Map.Owner(p.partition); owner != name {
				add(Violation{"misplaced_product", name, p.sku, "", fmt.Sprintf("partition %d is owned by %s", p.partition, owner)})
			}
			if p.reserved < 0 || p.reserved > p.onHand {
				add(Violation{"stock_bounds", name, p.sku, "", fmt.Sprintf("on_hand %d reserved %d", p.onHand, p.reserved)})
			}
			if p.onHand != p.ledgerOnHand {
				add(Violation{"ledger_on_hand", name, p.sku, "", fmt.Sprintf("on_hand %d, ledger base + change log sum to %d", p.onHand, p.ledgerOnHand)})
			}
			if p.reserved != p.ledgerReserved {
				add(Violation{"ledger_reserved", name, p.sku, "", fmt.Sprintf("reserved %d, ledger base + change log sum to %d", p.reserved, p.ledgerReserved)})
			}
			if p.lots > 0 && p.onHand != p.lotRemaining {
				add(Violation{"lot_on_hand", name, p.sku, "", fmt.Sprintf("on_hand %d, lots hold %d", p.onHand, p.lotRemaining)})
			}
			if p.badLots > 0 {
				add(Violation{"lot_bounds", name, p.sku, "", fmt.Sprintf("%d lots with remaining outside 0..received", p.badLots)})
			}
			if p.reserved != p.heldLines {
				add(Violation{"held_lines", name, p.sku, "", fmt.Sprintf("reserved %d, held lines sum to %d", p.reserved, p.heldLines)})
			}
		}
		for _, h := range sc.headers {
			rep.Reservations++
			if _, dup := headers[h.id]; dup {
				add(Violation{"duplicate_reservation", name, "", h.id, "header on two shards"})
			}
			headers[h.id] = h
		}
		for _, l := range sc.lines {
			rep.Lines++
			lines[l.id] = append(lines[l.id], l)
		}
	}
	for id, h := range headers {
		byS := map[string]lineRow{}
		for _, l := range lines[id] {
			byS[l.sku] = l
		}
		inFlight := h.status == inventory.StatusPending || h.status == inventory.StatusCommitting || h.status == inventory.StatusReleasing || h.status == inventory.StatusExpiring
		if opts.Quiescent && inFlight {
			add(Violation{"saga_in_flight", h.shard, "", id, "header is " + string(h.status)})
		}
		for _, want := range h.lines {
			l, ok := byS[want.SKU]
			switch h.status {
			case inventory.StatusHeld:
				if !ok || l.status != inventory.LineHeld {
					add(Violation{"partial_reservation", h.shard, want.SKU, id, "held header with a line that is not held"})
				}
			case inventory.StatusCommitted:
				if !ok || l.status != inventory.LineCommitted {
					add(Violation{"partial_commit", h.shard, want.SKU, id, "committed header with a line that is not committed"})
				}
			case inventory.StatusReleased, inventory.StatusExpired:
				if ok && l.status != inventory.LineReleased {
					add(Violation{"leaked_line", h.shard, want.SKU, id, "final " + string(h.status) + " header with a " + string(l.status) + " line"})
				}
			}
		}
	}
	for id, ls := range lines {
		if _, ok := headers[id]; ok {
			continue
		}
		for _, l := range ls {
			if l.status != inventory.LineReleased {
				add(Violation{"orphan_line", l.shard, l.sku, id, "line without a header is " + string(l.status)})
			}
		}
	}
	// Each partition is owned (fence) by exactly the shard the map names.
	fenceOwners := map[int][]string{}
	for _, name := range names {
		for p, st := range scans[name].fences {
			if st == inventory.FenceOwned {
				fenceOwners[p] = append(fenceOwners[p], name)
			}
		}
	}
	for p := 0; p < t.Partitions; p++ {
		owner, _ := t.Map.Owner(p)
		fo := fenceOwners[p]
		switch {
		case len(fo) > 1:
			add(Violation{"fence_split_brain", "", "", fmt.Sprint(p), fmt.Sprintf("partition owned on %v", fo)})
		case len(fo) == 1 && fo[0] != owner && opts.Quiescent:
			add(Violation{"fence_owner_mismatch", fo[0], "", fmt.Sprint(p), "map says " + owner})
		case len(fo) == 0 && opts.Quiescent:
			add(Violation{"fence_missing", owner, "", fmt.Sprint(p), "no shard owns the partition"})
		}
	}
	sort.Slice(rep.Violations, func(i, j int) bool { return rep.Violations[i].String() < rep.Violations[j].String() })
	return rep, nil
}

func scanShard(ctx context.Context, st *shard.Store) (*shardScan, error) {
	db := st.DB()
	sc := &shardScan{}
	fences, err := st.Fences(ctx)
	if err != nil {
		return nil, err
	}
	sc.fences = fences
	// Rows of partitions moved out (awaiting cleanup) or being imported (a job's copy) are
	// expected and skipped; rows of a partition this shard never had are checked, and fail.
	owned := func(p int) bool {
		switch fences[p] {
		case inventory.FenceMovedOut, inventory.FenceImporting:
			sc.leftover++
			return false
		}
		return true
	}
	rows, err := db.QueryContext(ctx, `SELECT p.sku, p.partition_id, p.on_hand, p.reserved,
		COALESCE(b.on_hand, 0) + COALESCE(c.oh, 0), COALESCE(b.reserved, 0) + COALESCE(c.rs, 0), COALESCE(l.held, 0),
		COALESCE(lt.n, 0), COALESCE(lt.rem, 0), COALESCE(lt.bad, 0)
		FROM products p
		LEFT JOIN (SELECT sku, SUM(delta_on_hand) oh, SUM(delta_reserved) rs FROM changes GROUP BY sku) c ON c.sku = p.sku
		LEFT JOIN ledger_base b ON b.sku = p.sku
		LEFT JOIN (SELECT sku, SUM(quantity) held FROM reservation_lines WHERE status = 'held' GROUP BY sku) l ON l.sku = p.sku
		LEFT JOIN (SELECT sku, COUNT(*) n, SUM(remaining) rem, SUM(remaining < 0 OR remaining > received) bad FROM lots GROUP BY sku) lt ON lt.sku = p.sku`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var p productRow
		if err := rows.Scan(&p.sku, &p.partition, &p.onHand, &p.reserved, &p.ledgerOnHand, &p.ledgerReserved, &p.heldLines,
			&p.lots, &p.lotRemaining, &p.badLots); err != nil {
			rows.Close()
			return nil, err
		}
		if owned(p.partition) {
			sc.products = append(sc.products, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	hs, err := st.AllHeaders(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if !owned(h.Partition) {
			continue
		}
		sc.headers = append(sc.headers, headerRow{id: h.ID, status: h.Status, lines: h.Lines, shard: st.Name()})
	}
	rows, err = db.QueryContext(ctx, "SELECT reservation_id, sku, status, quantity, partition_id FROM reservation_lines")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		l := lineRow{shard: st.Name()}
		var p int
		if err := rows.Scan(&l.id, &l.sku, &l.status, &l.qty, &p); err != nil {
			rows.Close()
			return nil, err
		}
		if owned(p) {
			sc.lines = append(sc.lines, l)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM changes").Scan(&sc.changes)
	return sc, err
}

// VerifyCluster loads the current topology and verifies every shard it names (removed shards
// excluded), including the moving partitions of an active job.
func VerifyCluster(ctx context.Context, metaDSN string, opts VerifyOptions) (VerifyReport, error) {
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return VerifyReport{}, err
	}
	defer meta.Close()
	top, err := meta.Load(ctx)
	if err != nil {
		return VerifyReport{}, err
	}
	stores := map[string]*shard.Store{}
	defer func() {
		for _, st := range stores {
			st.Close()
		}
	}()
	for name, info := range top.Shards {
		if info.State == inventory.ShardRemoved {
			continue
		}
		st, err := shard.Open(name, info.DSN, shard.PoolOptions{MaxOpen: 4})
		if err != nil {
			return VerifyReport{}, err
		}
		stores[name] = st
	}
	return Verify(ctx, top, stores, opts)
}
