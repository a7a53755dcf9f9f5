package migrate

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// ArchivedChange is one change-log row as written to an archive file: one JSON object per line,
// every column of the changes table plus the shard it was read from. (Shard, Seq) identifies the
// row; integers are exact JSON numbers, CreatedAt is RFC 3339 in UTC with microseconds. Actor
// and RequestID are absent from files written before they were recorded, and read as "" (the
// column's value for such rows).
type ArchivedChange struct {
	Shard         string    `json:"shard"`
	Seq           uint64    `json:"seq"`
	PartitionID   int       `json:"partition_id"`
	SKU           string    `json:"sku"`
	Kind          string    `json:"kind"`
	DeltaOnHand   int64     `json:"delta_on_hand"`
	DeltaReserved int64     `json:"delta_reserved"`
	Ref           string    `json:"ref"`
	CreatedAt     time.Time `json:"created_at"`
	OriginShard   *string   `json:"origin_shard"`
	OriginSeq     *uint64   `json:"origin_seq"`
	Actor         string    `json:"actor"`
	RequestID     string    `json:"request_id"`
}

// archived is the archive file's form of a change row read from shardName.
func archived(shardName string, c shard.ChangeRow) ArchivedChange {
	return ArchivedChange{Shard: shardName, Seq: c.Seq, PartitionID: c.PartitionID, SKU: c.SKU, Kind: string(c.Kind),
		DeltaOnHand: c.DeltaOnHand, DeltaReserved: c.DeltaReserved, Ref: c.Ref, CreatedAt: c.CreatedAt,
		OriginShard: c.OriginShard, OriginSeq: c.OriginSeq, Actor: c.Actor, RequestID: c.RequestID}
}

// row is the change row an archive file's row stands for.
func (c ArchivedChange) row() shard.ChangeRow {
	return shard.ChangeRow{Seq: c.Seq, PartitionID: c.PartitionID, SKU: c.SKU, Kind: inventory.ChangeKind(c.Kind),
		DeltaOnHand: c.DeltaOnHand, DeltaReserved: c.DeltaReserved, Ref: c.Ref, CreatedAt: c.CreatedAt,
		OriginShard: c.OriginShard, OriginSeq: c.OriginSeq, Actor: c.Actor, RequestID: c.RequestID}
}

// ArchiveFile describes one archive file in the manifest.
type ArchiveFile struct {
	// Path is relative to the run directory (the manifest's directory).
	Path    string `json:"path"`
	Rows    int64  `json:"rows"`
	FromSeq uint64 `json:"from_seq"` // first and last seq in the file; rows are in seq order
	ToSeq   uint64 `json:"to_seq"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"` // of the file as stored (compressed)
	// Sums of the rows' deltas.
	SumOnHand   int64 `json:"sum_delta_on_hand"`
	SumReserved int64 `json:"sum_delta_reserved"`
}

// fileSums accumulates what a manifest entry states about a file's rows.
type fileSums struct {
	rows                   int64
	from, to               uint64
	sumOnHand, sumReserved int64
}

func (s *fileSums) add(c ArchivedChange) error {
	if s.rows > 0 && c.Seq <= s.to {
		return fmt.Errorf("seq %d after %d: rows out of order", c.Seq, s.to)
	}
	var ok1, ok2 bool
	s.sumOnHand, ok1 = addInt64(s.sumOnHand, c.DeltaOnHand)
	s.sumReserved, ok2 = addInt64(s.sumReserved, c.DeltaReserved)
	if !ok1 || !ok2 {
		return errors.New("delta sums overflow 64 bits: archive fewer rows per file")
	}
	if s.rows == 0 {
		s.from = c.Seq
	}
	s.to = c.Seq
	s.rows++
	return nil
}

func (s fileSums) matches(f ArchiveFile) bool {
	return s.rows == f.Rows && s.from == f.FromSeq && s.to == f.ToSeq && s.sumOnHand == f.SumOnHand && s.sumReserved == f.SumReserved
}

func addInt64(a, b int64) (int64, bool) {
	if b > 0 && a > math.MaxInt64-b || b < 0 && a < math.MinInt64-b {
		return a, false
	}
	return a + b, true
}

// archiveWriter writes one gzip-compressed JSONL file under a temporary name and, on close,
// renames it to changes-<from>-<to>.jsonl.gz (zero-padded, so names sort by seq).
type archiveWriter struct {
	dir, rel string // the run directory and the shard's subdirectory in it
	f        *os.File
	hash     hashCounter
	buf      *bufio.Writer
	gz       *gzip.Writer
	enc      *json.Encoder
	sums     fileSums
}

// hashCounter hashes and counts what is written to the file.
type hashCounter struct {
	w     io.Writer
	h     hashWriter
	bytes int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func (hc *hashCounter) Write(p []byte) (int, error) {
	n, err := hc.w.Write(p)
	hc.h.Write(p[:n])
	hc.bytes += int64(n)
	return n, err
}

func newArchiveWriter(dir, rel string) (*archiveWriter, error) {
	f, err := os.CreateTemp(filepath.Join(dir, rel), ".changes-*.tmp")
	if err != nil {
		return nil, err
	}
	w := &archiveWriter{dir: dir, rel: rel, f: f}
	w.hash = hashCounter{w: f, h: sha256.New()}
	w.buf = bufio.NewWriterSize(&w.hash, 256<<10)
	w.gz = gzip.NewWriter(w.buf)
	w.enc = json.NewEncoder(w.gz)
	return w, nil
}

func (w *archiveWriter) write(c ArchivedChange) error {
	if err := w.sums.add(c); err != nil {
		return err
	}
	return w.enc.Encode(c) // one object and a newline
}

// close finishes the file (synced to disk) and returns its manifest entry.
func (w *archiveWriter) close() (ArchiveFile, error) {
	err := w.gz.Close()
	if err == nil {
		err = w.buf.Flush()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(w.f.Name())
		return ArchiveFile{}, err
	}
	rel := filepath.Join(w.rel, fmt.Sprintf("changes-%020d-%020d.jsonl.gz", w.sums.from, w.sums.to))
	if err := os.Rename(w.f.Name(), filepath.Join(w.dir, rel)); err != nil {
		return ArchiveFile{}, err
	}
	return ArchiveFile{Path: filepath.ToSlash(rel), Rows: w.sums.rows, FromSeq: w.sums.from, ToSeq: w.sums.to,
		Bytes: w.hash.bytes, SHA256: hex.EncodeToString(w.hash.h.Sum(nil)),
		SumOnHand: w.sums.sumOnHand, SumReserved: w.sums.sumReserved}, nil
}

// abort removes an unfinished file.
func (w *archiveWriter) abort() {
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}

// ReadArchiveFile reads an archive file, calling fn for every row in order, and returns the
// file's manifest entry as recomputed from its contents (path as given).
func ReadArchiveFile(path string, fn func(ArchivedChange) error) (ArchiveFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return ArchiveFile{}, err
	}
	defer f.Close()
	hc := &hashCounter{w: io.Discard, h: sha256.New()}
	gz, err := gzip.NewReader(io.TeeReader(f, hc)) // gzip buffers the reads itself
	if err != nil {
		return ArchiveFile{}, fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(gz)
	dec.DisallowUnknownFields()
	var sums fileSums
	for {
		var c ArchivedChange
		if err := dec.Decode(&c); err == io.EOF {
			break
		} else if err != nil {
			return ArchiveFile{}, fmt.Errorf("%s: row %d: %w", path, sums.rows+1, err)
		}
		if err := sums.add(c); err != nil {
			return ArchiveFile{}, fmt.Errorf("%s: %w", path, err)
		}
		if fn != nil {
			if err := fn(c); err != nil {
				return ArchiveFile{}, err
			}
		}
	}
	if err := gz.Close(); err != nil {
		return ArchiveFile{}, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := io.Copy(io.Discard, io.TeeReader(f, hc)); err != nil { // trailing bytes count too
		return ArchiveFile{}, err
	}
	return ArchiveFile{Path: path, Rows: sums.rows, FromSeq: sums.from, ToSeq: sums.to, Bytes: hc.bytes,
		SHA256: hex.EncodeToString(hc.h.Sum(nil)), SumOnHand: sums.sumOnHand, SumReserved: sums.sumReserved}, nil
}

// ManifestName is the manifest's file name in a run directory.
const ManifestName = "manifest.json"

// writeManifest writes the report as the run's manifest, atomically (temp file and rename).
func writeManifest(dir string, rep ArchiveReport) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".manifest-*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, ManifestName))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// ReadManifest reads the manifest of the run directory dir.
func ReadManifest(dir string) (ArchiveReport, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return ArchiveReport{}, err
	}
	var rep ArchiveReport
	if err := json.Unmarshal(data, &rep); err != nil {
		return ArchiveReport{}, fmt.Errorf("%s: %w", ManifestName, err)
	}
	return rep, nil
}
