package migrate_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

const changeCols = "seq, partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at, origin_shard, origin_seq, actor, request_id"

// changeLog reads every change row of every shard, keyed "shard:seq".
func changeLog(t *testing.T, c *clustertest.Cluster) map[string]migrate.ArchivedChange {
	t.Helper()
	out := map[string]migrate.ArchivedChange{}
	for name, st := range c.Stores(t) {
		rows, err := st.DB().Query("SELECT " + changeCols + " FROM changes")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			ch := migrate.ArchivedChange{Shard: name}
			var originShard sql.NullString
			var oq sql.NullInt64
			if err := rows.Scan(&ch.Seq, &ch.PartitionID, &ch.SKU, &ch.Kind, &ch.DeltaOnHand, &ch.DeltaReserved, &ch.Ref, &ch.CreatedAt, &originShard, &oq,
				&ch.Actor, &ch.RequestID); err != nil {
				t.Fatal(err)
			}
			ch.CreatedAt = ch.CreatedAt.UTC()
			if originShard.Valid {
				ch.OriginShard = &originShard.String
			}
			if oq.Valid {
				v := uint64(oq.Int64)
				ch.OriginSeq = &v
			}
			out[fmt.Sprintf("%s:%d", name, ch.Seq)] = ch
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// archivedRows decodes every file of a run independently of the package (gunzip, one JSON object
// per line), checks each file's SHA-256 and row count against the manifest, and returns the rows.
func archivedRows(t *testing.T, rep migrate.ArchiveReport) map[string]migrate.ArchivedChange {
	t.Helper()
	man, err := migrate.ReadManifest(rep.Dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]migrate.ArchivedChange{}
	for _, s := range man.Shards {
		var shardRows int64
		for _, f := range s.Files {
			data, err := os.ReadFile(filepath.Join(rep.Dir, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Bytes {
				t.Errorf("%s: sha256/size do not match the manifest", f.Path)
			}
			if !strings.HasPrefix(f.Path, s.Shard+"/changes-") || !strings.HasSuffix(f.Path, ".jsonl.gz") {
				t.Errorf("file name %s", f.Path)
			}
			zr, err := gzip.NewReader(strings.NewReader(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(zr)
			var n, sumOH, sumRS int64
			for sc.Scan() {
				var raw map[string]any
				if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
					t.Fatalf("%s: %v", f.Path, err)
				}
				if len(raw) != 13 {
					t.Errorf("%s: row with %d fields: %s", f.Path, len(raw), sc.Text())
				}
				var ch migrate.ArchivedChange
				if err := json.Unmarshal(sc.Bytes(), &ch); err != nil {
					t.Fatal(err)
				}
				if ch.Shard != s.Shard || ch.Seq < f.FromSeq || ch.Seq > f.ToSeq || !ch.CreatedAt.Before(s.Cutoff) || ch.Seq >= s.SeqBelow {
					t.Errorf("%s: row outside the manifest's bounds: %s", f.Path, sc.Text())
				}
				key := fmt.Sprintf("%s:%d", ch.Shard, ch.Seq)
				if _, dup := out[key]; dup {
					t.Errorf("row %s archived twice", key)
				}
				out[key] = ch
				n++
				sumOH += ch.DeltaOnHand
				sumRS += ch.DeltaReserved
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if n != f.Rows || sumOH != f.SumOnHand || sumRS != f.SumReserved {
				t.Errorf("%s: %d rows, sums %d/%d; manifest %+v", f.Path, n, sumOH, sumRS, f)
			}
			shardRows += n
		}
		if shardRows != s.Rows || s.Deleted != s.Rows {
			t.Errorf("shard %s: files hold %d rows, manifest rows %d deleted %d", s.Shard, shardRows, s.Rows, s.Deleted)
		}
	}
	return out
}

// loadLedger creates products on every shard and changes them in every way the change log
// records: receipts, reservations (committed, released, held), absolute sets, product edits.
func loadLedger(t *testing.T, c *clustertest.Cluster, g *clustertest.Gateway, prefix string) []string {
	t.Helper()
	var skus []string
	for i := 0; i < 4; i++ {
		skus = append(skus, c.SKUsPerShard(t, fmt.Sprintf("%s%d", prefix, i))...)
	}
	for _, s := range skus {
		g.Product(s, 0, "100")
	}
	for round := 0; round < 3; round++ {
		for i, s := range skus {
			g.Expect(g.Do("POST", "/v1/products/"+s+"/adjustments", fmt.Sprintf(`{"delta": %d, "reason": "receive"}`, i+1)), 200, "")
			other := skus[(i+1)%len(skus)]
			r := g.Expect(g.Do("POST", "/v1/reservations", fmt.Sprintf(`{"order_id":"o-%d-%d","lines":[{"sku":"%s","quantity":2},{"sku":"%s","quantity":1}]}`,
				round, i, s, other)), 201, "")
			switch i % 3 {
			case 0:
				g.Expect(g.Do("POST", "/v1/reservations/"+r.Str("id")+"/commit", nil), 200, "")
			case 1:
				g.Expect(g.Do("POST", "/v1/reservations/"+r.Str("id")+"/release", nil), 200, "")
			}
		}
	}
	g.Expect(g.Do("PUT", "/v1/products/"+skus[0]+"/stock", `{"on_hand": 500}`), 200, "")
	return skus
}

// ageChanges moves created_at of the rows matching where 100 days back on every shard.
func ageChanges(t *testing.T, c *clustertest.Cluster, where string) {
	t.Helper()
	for _, st := range c.Stores(t) {
		if _, err := st.DB().Exec("UPDATE changes SET created_at = created_at - INTERVAL 100 DAY WHERE " + where); err != nil {
			t.Fatal(err)
		}
	}
}

func openMeta(t *testing.T, c *clustertest.Cluster) *shard.Meta {
	t.Helper()
	m, err := shard.OpenMeta(c.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func maxSeqs(t *testing.T, c *clustertest.Cluster) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for name, st := range c.Stores(t) {
		seq, err := st.Relay().MaxChangeSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[name] = seq
	}
	return out
}

// The archive round trip with the gateways' own event relays: archived rows (read back from the
// files) plus the remaining rows are exactly the original rows; the manifest's checksums hold;
// the verifier is clean (ledger base); a second run finds nothing left to archive.
func TestArchiveRoundTrip(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	loadLedger(t, c, g, "AR")
	ageChanges(t, c, "seq % 3 <> 0") // old and recent rows interleave
	waitForRelays(t, c)
	g.Close() // no more writes: the comparison below is exact
	before := changeLog(t, c)
	c.RequireInvariants(t, true)

	out := t.TempDir()
	rep, err := migrate.Archive(context.Background(), c.MetaDSN, 90*24*time.Hour, out, migrate.ArchiveOptions{
		ChunkRows: 7, FileRows: 20, // many chunks and files
	})
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	if !rep.Complete || rep.RowsArchived == 0 || rep.RowsDeleted != rep.RowsArchived || len(rep.Shards) != 3 {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("archived %d of %d rows in %d bytes, %.2fs", rep.RowsArchived, len(before), rep.Bytes, rep.DurationSeconds)
	archived := archivedRows(t, rep)
	if int64(len(archived)) != rep.RowsArchived {
		t.Errorf("files hold %d rows, report says %d", len(archived), rep.RowsArchived)
	}
	checkArchivedSplit(t, c, before, archived, changeLog(t, c))
	checkLedgerBase(t, c, rep)
	c.RequireInvariants(t, true)

	// Traffic continues on top of the base; a second run finds at most the rows that were the
	// newest of their logs the first time.
	g2 := c.StartGateway(t, gateway.Options{}, nil)
	loadLedger(t, c, g2, "AS")
	c.RequireInvariants(t, false)
	rep2, err := migrate.Archive(context.Background(), c.MetaDSN, 90*24*time.Hour, out, migrate.ArchiveOptions{})
	if err != nil || rep2.RowsArchived > 3 || rep2.Dir == rep.Dir || !rep2.Complete {
		t.Fatalf("second run: %+v %v", rep2, err)
	}
	c.RequireInvariants(t, false)
}

// waitForRelays waits until the relays consumed every change: each shard's horizon reaches its
// newest row.
func waitForRelays(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	meta := openMeta(t, c)
	want := maxSeqs(t, c)
	deadline := time.Now().Add(15 * time.Second)
	for {
		h, err := meta.Sinks().RelayHorizons(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		caught := true
		for name, seq := range want {
			caught = caught && h[name] >= seq
		}
		if caught {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay horizons %v, want %v", h, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkArchivedSplit checks that archived + remaining rows are the original rows, row for row,
// and that exactly the old rows went (the newest row of each log stays whatever its age).
func checkArchivedSplit(t *testing.T, c *clustertest.Cluster, before, archived, after map[string]migrate.ArchivedChange) {
	t.Helper()
	union := map[string]migrate.ArchivedChange{}
	for k, v := range after {
		union[k] = v
	}
	for k, v := range archived {
		if _, both := after[k]; both {
			t.Errorf("row %s both archived and still in the log", k)
		}
		union[k] = v
	}
	if len(union) != len(before) {
		t.Errorf("archived %d + remaining %d rows, originally %d", len(archived), len(after), len(before))
	}
	for k, v := range before {
		got, ok := union[k]
		if !ok {
			t.Errorf("row %s lost", k)
			continue
		}
		if !reflect.DeepEqual(normalize(got), normalize(v)) {
			t.Errorf("row %s: %+v, originally %+v", k, got, v)
		}
	}
	shardMax := maxSeqs(t, c)
	for k, v := range before {
		_, gone := archived[k]
		old := v.CreatedAt.Before(time.Now().Add(-90 * 24 * time.Hour))
		if gone != (old && v.Seq < shardMax[v.Shard]) {
			t.Errorf("row %s (created %s): archived %v", k, v.CreatedAt, gone)
		}
	}
}

// checkLedgerBase checks that the shards' ledger base holds the archived sums.
func checkLedgerBase(t *testing.T, c *clustertest.Cluster, rep migrate.ArchiveReport) {
	t.Helper()
	var baseOH, baseRS, wantOH, wantRS int64
	for _, st := range c.Stores(t) {
		var oh, rs int64
		if err := st.DB().QueryRow("SELECT COALESCE(SUM(on_hand), 0), COALESCE(SUM(reserved), 0) FROM ledger_base").Scan(&oh, &rs); err != nil {
			t.Fatal(err)
		}
		baseOH += oh
		baseRS += rs
	}
	for _, s := range rep.Shards {
		wantOH += s.SumOnHand
		wantRS += s.SumReserved
	}
	if baseOH != wantOH || baseRS != wantRS || wantOH == 0 {
		t.Errorf("ledger base sums %d/%d, archived deltas %d/%d", baseOH, baseRS, wantOH, wantRS)
	}
}

func normalize(c migrate.ArchivedChange) migrate.ArchivedChange {
	c.CreatedAt = c.CreatedAt.UTC()
	return c
}

// Rows an event cursor has not consumed stay: the relay horizon and every sink cursor bound the
// archive per shard, and a shard whose relay never ran keeps everything.
func TestArchiveKeepsWhatTheWatermarkProtects(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{DisableWorkers: true}, nil) // no relays: watermarks by hand
	loadLedger(t, c, g, "AW")
	g.Close()
	ageChanges(t, c, "1 = 1")
	ctx := context.Background()
	meta := openMeta(t, c)
	seqs := maxSeqs(t, c)
	s1, s2, s3 := c.Shards[0].Name, c.Shards[1].Name, c.Shards[2].Name
	mid := seqs[s2] / 2
	for _, s := range []string{s1, s2} {
		if err := meta.Sinks().SetRelayHorizon(ctx, s, seqs[s], "test"); err != nil {
			t.Fatal(err)
		}
	}
	// A sink that consumed shard 2 only up to mid holds the rest back.
	if _, err := meta.Sinks().OpenSinkCursor(ctx, shard.SinkNATS, s2, mid); err != nil {
		t.Fatal(err)
	}
	before := changeLog(t, c)
	rep, err := migrate.Archive(ctx, c.MetaDSN, 90*24*time.Hour, t.TempDir(), migrate.ArchiveOptions{ChunkRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	archived := archivedRows(t, rep)
	for k, v := range before {
		_, gone := archived[k]
		var want bool
		switch v.Shard {
		case s1:
			want = v.Seq < seqs[s1] // all but the newest row
		case s2:
			want = v.Seq <= mid
		case s3:
			want = false // relay never ran
		}
		if gone != want {
			t.Errorf("row %s: archived %v, want %v", k, gone, want)
		}
	}
	for _, s := range rep.Shards {
		if s.Shard == s2 && s.SeqBelow != mid+1 || s.Shard == s3 && s.Rows != 0 {
			t.Errorf("shard %+v", s)
		}
	}
	c.RequireInvariants(t, true)
}

// The archive refuses to run while a resharding job is planned or running, also when the job is
// created after the files were verified (each delete transaction checks under the fences);
// after the job, the ledger base moves with its partitions.
func TestArchiveAndResharding(t *testing.T) {
	c := agedLedger(t, "AJ")
	ctx := context.Background()
	before := changeLog(t, c)
	r := newResharder(t, c, migrate.ReshardOptions{Parallel: 4})
	add := []migrate.ShardSpec{{Name: "shard-4", DSN: testdb.Server(t).NewDatabase(t, "shard4")}}

	// A planned job: refused before anything is written.
	job, err := r.Create(ctx, add, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := migrate.Archive(ctx, c.MetaDSN, 90*24*time.Hour, out, migrate.ArchiveOptions{}); !errors.Is(err, migrate.ErrReshardActive) {
		t.Fatalf("archive during a planned job: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("refused archive wrote %d entries", len(entries))
	}
	if _, err := r.Abort(ctx, job.ID); err != nil {
		t.Fatal(err)
	}

	// A job created between verification and deletion: every delete is refused.
	var created *migrate.Job
	rep, err := migrate.Archive(ctx, c.MetaDSN, 90*24*time.Hour, out, migrate.ArchiveOptions{
		OnProgress: func(p migrate.ArchiveProgress) {
			if p.Phase == "verified" && created == nil {
				j, err := r.Create(ctx, add, nil)
				if err != nil {
					t.Error(err)
				}
				created = &j
			}
		},
	})
	if !errors.Is(err, migrate.ErrReshardActive) || rep.RowsDeleted != 0 || rep.RowsArchived == 0 || rep.Complete {
		t.Fatalf("archive with a job created mid-run: deleted %d of %d, err %v", rep.RowsDeleted, rep.RowsArchived, err)
	}
	if man, err := migrate.ReadManifest(rep.Dir); err != nil || man.Complete || man.RowsDeleted != 0 {
		t.Errorf("manifest after the refused deletion: %+v %v", man, err)
	}
	if after := changeLog(t, c); len(after) != len(before) {
		t.Errorf("%d rows left of %d", len(after), len(before))
	}
	if _, err := r.Abort(ctx, created.ID); err != nil {
		t.Fatal(err)
	}

	// Archive, then reshard: the ledger base travels with its partitions and the new owners
	// keep on_hand = base + log; cleanup removes it from the old owners.
	rep, err = migrate.Archive(ctx, c.MetaDSN, 90*24*time.Hour, out, migrate.ArchiveOptions{})
	if err != nil || !rep.Complete || rep.RowsDeleted == 0 {
		t.Fatalf("archive: %+v %v", rep, err)
	}
	c.RequireInvariants(t, true)
	if _, err := r.Start(ctx, add, nil); err != nil {
		t.Fatal(err)
	}
	c.Shards = append(c.Shards, add...)
	c.RequireInvariants(t, true)
	var moved int
	if err := openDB(t, add[0].DSN).QueryRow("SELECT COUNT(*) FROM ledger_base").Scan(&moved); err != nil || moved == 0 {
		t.Errorf("ledger base rows on the new shard: %d (%v)", moved, err)
	}
	if _, err := r.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	c.RequireInvariants(t, true)
}

// Archive verifies its files before deleting anything: a file changed after it was written
// stops the run with every row still in place.
func TestArchiveVerifiesBeforeDeleting(t *testing.T) {
	c := agedLedger(t, "AV")
	ctx := context.Background()
	before := changeLog(t, c)

	// Dry run: counts, writes and deletes nothing.
	dry, err := migrate.Archive(ctx, c.MetaDSN, 90*24*time.Hour, "", migrate.ArchiveOptions{DryRun: true})
	if err != nil || dry.Dir != "" || dry.RowsArchived != int64(len(before)-3) || dry.RowsDeleted != 0 {
		t.Fatalf("dry run: %+v %v (log has %d rows)", dry, err, len(before))
	}

	out := t.TempDir()
	rep, err := migrate.Archive(ctx, c.MetaDSN, 90*24*time.Hour, out, migrate.ArchiveOptions{
		OnProgress: func(p migrate.ArchiveProgress) {
			if p.Phase != "exported" || p.Shard != c.Shards[1].Name {
				return
			}
			files, _ := filepath.Glob(filepath.Join(out, "*", p.Shard, "changes-*.jsonl.gz"))
			if len(files) == 0 {
				t.Error("no file to tamper with")
				return
			}
			// Same size, one byte different.
			data, _ := os.ReadFile(files[0])
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(files[0], data, 0o644); err != nil {
				t.Error(err)
			}
		},
	})
	if err == nil || rep.RowsDeleted != 0 {
		t.Fatalf("tampered file: deleted %d, err %v", rep.RowsDeleted, err)
	}
	t.Logf("refused: %v", err)
	if after := changeLog(t, c); len(after) != len(before) {
		t.Errorf("%d rows left of %d", len(after), len(before))
	}
	c.RequireInvariants(t, true)
}

// The verifier counts the ledger base: a base that disagrees with the stock is reported.
func TestVerifyCountsLedgerBase(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{DisableWorkers: true}, nil)
	skus := c.SKUsPerShard(t, "LB")
	g.Product(skus[0], 0, "10")
	st := c.Stores(t)[c.Shards[0].Name]
	if _, err := st.DB().Exec(`INSERT INTO ledger_base (sku, partition_id, on_hand, reserved, rows_archived, updated_at)
		SELECT sku, partition_id, 3, 0, 1, UTC_TIMESTAMP(6) FROM products WHERE sku = ?`, skus[0]); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range c.Verify(t, true).Violations {
		found = found || v.Kind == "ledger_on_hand" && v.SKU == skus[0]
	}
	if !found {
		t.Error("a ledger base of 3 on top of the full log is not reported")
	}
	// Moving the matching rows into the base makes it consistent again.
	if _, err := st.DB().Exec("UPDATE ledger_base SET on_hand = 10 WHERE sku = ?", skus[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec("DELETE FROM changes WHERE sku = ? AND delta_on_hand <> 0", skus[0]); err != nil {
		t.Fatal(err)
	}
	c.RequireInvariants(t, true)
}

// agedLedger is a cluster whose whole change log is old enough to archive and already consumed
// by every event relay (horizons at the newest rows).
func agedLedger(t *testing.T, prefix string) *clustertest.Cluster {
	t.Helper()
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{DisableWorkers: true}, nil)
	loadLedger(t, c, g, prefix)
	ageChanges(t, c, "1 = 1")
	meta := openMeta(t, c)
	for name, seq := range maxSeqs(t, c) {
		if err := meta.Sinks().SetRelayHorizon(context.Background(), name, seq, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Archive files written before change rows recorded their actor have no actor or request_id
// fields; they still read, with both empty (the column's value for such rows).
func TestArchiveFileWithoutActorsReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "changes-old.jsonl.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	_, _ = zw.Write([]byte(`{"shard":"shard-1","seq":7,"partition_id":3,"sku":"OLD-1","kind":"receive","delta_on_hand":5,"delta_reserved":0,` +
		`"ref":"","created_at":"2025-01-02T03:04:05.000006Z","origin_shard":null,"origin_seq":null}` + "\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var rows []migrate.ArchivedChange
	sum, err := migrate.ReadArchiveFile(path, func(c migrate.ArchivedChange) error { rows = append(rows, c); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].SKU != "OLD-1" || rows[0].DeltaOnHand != 5 || rows[0].Actor != "" || rows[0].RequestID != "" || sum.Rows != 1 {
		t.Fatalf("old row read as %+v (%+v)", rows, sum)
	}
}
