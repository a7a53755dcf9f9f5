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

// String is the violation on one line: its kind, where, and what is wrong.
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
	products []shard.ProductLedger
	headers  []headerRow
	lines    []lineRow
	changes  int64
}

// Verify checks ARCHITECTURE.md's invariants over the whole cluster, one shard scan in parallel
// per shard: 0 <= reserved <= on_hand; on_hand and reserved equal the product's ledger base (the
// sums of its archived change rows) plus the sums of its change-log deltas; reserved equals its
// held reservation lines; every product sits on the owner of its partition, exactly once; a
// lot-tracked product's on_hand equals the remaining quantities of its lots (expired ones not
// swept yet, or held back by reservations, included); every reservation is whole (final headers
// have no held lines, held headers have every line held, no held line without a live header).
func Verify(ctx context.Context, t shard.Topology, stores map[string]*shard.Store, opts VerifyOptions) (VerifyReport, error) {
	scans, err := scanAll(ctx, stores, opts.Parallel)
	if err != nil {
		return VerifyReport{}, err
	}
	v := &verifier{top: t, opts: opts, scans: scans, where: map[string]string{}, headers: map[string]headerRow{}, lines: map[string][]lineRow{}}
	for n := range scans {
		v.names = append(v.names, n)
	}
	sort.Strings(v.names)
	for _, name := range v.names {
		v.checkShard(name)
	}
	v.checkReservations()
	v.checkFences()
	sort.Slice(v.rep.Violations, func(i, j int) bool { return v.rep.Violations[i].String() < v.rep.Violations[j].String() })
	return v.rep, nil
}

// scanAll scans every shard, at most parallel at once (0: all).
func scanAll(ctx context.Context, stores map[string]*shard.Store, parallel int) (map[string]*shardScan, error) {
	scans := map[string]*shardScan{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, max(parallel, len(stores), 1))
	if parallel > 0 {
		sem = make(chan struct{}, parallel)
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
	return scans, firstErr
}

// verifier collects the violations of one Verify over the shards' scans.
type verifier struct {
	top     shard.Topology
	opts    VerifyOptions
	scans   map[string]*shardScan
	names   []string             // the scanned shards, sorted
	where   map[string]string    // SKU → the shard it was seen on
	headers map[string]headerRow // reservation id → header
	lines   map[string][]lineRow // reservation id → lines
	rep     VerifyReport
}

func (v *verifier) add(vi Violation) { v.rep.Violations = append(v.rep.Violations, vi) }

// checkShard checks every product of one shard and collects its reservations.
func (v *verifier) checkShard(name string) {
	sc := v.scans[name]
	v.rep.Changes += sc.changes
	v.rep.Leftovers += sc.leftover
	for _, p := range sc.products {
		v.rep.Products++
		if prev, dup := v.where[p.SKU]; dup {
			v.add(Violation{"duplicate_product", name, p.SKU, "", "also on shard " + prev})
		}
		v.where[p.SKU] = name
		v.checkProduct(name, p)
	}
	for _, h := range sc.headers {
		v.rep.Reservations++
		if _, dup := v.headers[h.id]; dup {
			v.add(Violation{"duplicate_reservation", name, "", h.id, "header on two shards"})
		}
		v.headers[h.id] = h
	}
	for _, l := range sc.lines {
		v.rep.Lines++
		v.lines[l.id] = append(v.lines[l.id], l)
	}
}

// checkProduct checks one product's placement, bounds and ledgers.
func (v *verifier) checkProduct(name string, p shard.ProductLedger) {
	if want := router.Partition(p.SKU, v.top.Partitions); p.Partition != want {
		v.add(Violation{"wrong_partition", name, p.SKU, "", fmt.Sprintf("partition_id %d, hash says %d", p.Partition, want)})
	}
	if owner, _ := v.top.Map.Owner(p.Partition); owner != name {
		v.add(Violation{"misplaced_product", name, p.SKU, "", fmt.Sprintf("partition %d is owned by %s", p.Partition, owner)})
	}
	if p.Reserved < 0 || p.Reserved > p.OnHand {
		v.add(Violation{"stock_bounds", name, p.SKU, "", fmt.Sprintf("on_hand %d reserved %d", p.OnHand, p.Reserved)})
	}
	if p.OnHand != p.LedgerOnHand {
		v.add(Violation{"ledger_on_hand", name, p.SKU, "", fmt.Sprintf("on_hand %d, ledger base + change log sum to %d", p.OnHand, p.LedgerOnHand)})
	}
	if p.Reserved != p.LedgerReserved {
		v.add(Violation{"ledger_reserved", name, p.SKU, "", fmt.Sprintf("reserved %d, ledger base + change log sum to %d", p.Reserved, p.LedgerReserved)})
	}
	if p.Lots > 0 && p.OnHand != p.LotRemaining {
		v.add(Violation{"lot_on_hand", name, p.SKU, "", fmt.Sprintf("on_hand %d, lots hold %d", p.OnHand, p.LotRemaining)})
	}
	if p.BadLots > 0 {
		v.add(Violation{"lot_bounds", name, p.SKU, "", fmt.Sprintf("%d lots with remaining outside 0..received", p.BadLots)})
	}
	if p.Reserved != p.HeldLines {
		v.add(Violation{"held_lines", name, p.SKU, "", fmt.Sprintf("reserved %d, held lines sum to %d", p.Reserved, p.HeldLines)})
	}
}

// checkReservations checks that every reservation is whole: each header's lines agree with its
// status, and no line is left held without a header.
func (v *verifier) checkReservations() {
	for id, h := range v.headers {
		v.checkHeader(id, h)
	}
	for id, ls := range v.lines {
		if _, ok := v.headers[id]; ok {
			continue
		}
		for _, l := range ls {
			if l.status != inventory.LineReleased {
				v.add(Violation{"orphan_line", l.shard, l.sku, id, "line without a header is " + string(l.status)})
			}
		}
	}
}

func (v *verifier) checkHeader(id string, h headerRow) {
	byS := map[string]lineRow{}
	for _, l := range v.lines[id] {
		byS[l.sku] = l
	}
	inFlight := h.status == inventory.StatusPending || h.status == inventory.StatusCommitting || h.status == inventory.StatusReleasing || h.status == inventory.StatusExpiring
	if v.opts.Quiescent && inFlight {
		v.add(Violation{"saga_in_flight", h.shard, "", id, "header is " + string(h.status)})
	}
	for _, want := range h.lines {
		l, ok := byS[want.SKU]
		switch h.status {
		case inventory.StatusHeld:
			if !ok || l.status != inventory.LineHeld {
				v.add(Violation{"partial_reservation", h.shard, want.SKU, id, "held header with a line that is not held"})
			}
		case inventory.StatusCommitted:
			if !ok || l.status != inventory.LineCommitted {
				v.add(Violation{"partial_commit", h.shard, want.SKU, id, "committed header with a line that is not committed"})
			}
		case inventory.StatusReleased, inventory.StatusExpired:
			if ok && l.status != inventory.LineReleased {
				v.add(Violation{"leaked_line", h.shard, want.SKU, id, "final " + string(h.status) + " header with a " + string(l.status) + " line"})
			}
		}
	}
}

// checkFences checks that each partition is owned (fence) by exactly the shard the map names.
func (v *verifier) checkFences() {
	fenceOwners := map[int][]string{}
	for _, name := range v.names {
		for p, st := range v.scans[name].fences {
			if st == inventory.FenceOwned {
				fenceOwners[p] = append(fenceOwners[p], name)
			}
		}
	}
	for p := 0; p < v.top.Partitions; p++ {
		owner, _ := v.top.Map.Owner(p)
		fo := fenceOwners[p]
		switch {
		case len(fo) > 1:
			v.add(Violation{"fence_split_brain", "", "", fmt.Sprint(p), fmt.Sprintf("partition owned on %v", fo)})
		case len(fo) == 1 && fo[0] != owner && v.opts.Quiescent:
			v.add(Violation{"fence_owner_mismatch", fo[0], "", fmt.Sprint(p), "map says " + owner})
		case len(fo) == 0 && v.opts.Quiescent:
			v.add(Violation{"fence_missing", owner, "", fmt.Sprint(p), "no shard owns the partition"})
		}
	}
}

// scanShard reads what Verify checks of one shard. Rows of partitions moved out (awaiting
// cleanup) or being imported (a job's copy) are expected and skipped (counted as leftovers);
// rows of a partition this shard never had are checked, and fail.
func scanShard(ctx context.Context, st *shard.Store) (*shardScan, error) {
	fences, err := st.Mover().Fences(ctx)
	if err != nil {
		return nil, err
	}
	sc := &shardScan{fences: fences}
	owned := func(p int) bool {
		switch fences[p] {
		case inventory.FenceMovedOut, inventory.FenceImporting:
			sc.leftover++
			return false
		}
		return true
	}
	products, err := st.Ledger().ProductLedgers(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range products {
		if owned(p.Partition) {
			sc.products = append(sc.products, p)
		}
	}
	hs, err := st.Ledger().AllHeaders(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if owned(h.Partition) {
			sc.headers = append(sc.headers, headerRow{id: h.ID, status: h.Status, lines: h.Lines, shard: st.Name()})
		}
	}
	lines, err := st.Ledger().AllLines(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		if owned(l.Partition) {
			sc.lines = append(sc.lines, lineRow{id: l.ReservationID, sku: l.SKU, status: l.Status, qty: l.Quantity, shard: st.Name()})
		}
	}
	sc.changes, err = st.Ledger().ChangeCount(ctx)
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
