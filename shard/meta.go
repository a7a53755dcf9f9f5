package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
)

// Meta is the metadata store: the authoritative topology (shards and partition map versions),
// API keys, the archive lock, and through its facets resharding jobs (Jobs, jobs.go) and event
// delivery state (Sinks, event_sinks.go).
type Meta struct {
	db *sql.DB
	// holds is a pool of its own for HoldWebhook, whose transactions last as long as a batch of
	// webhook deliveries: slow receivers must not starve the pool every other call uses.
	holds *sql.DB
	keys  keyTable // idempotency claims of the requests that change the metadata store
	// The facets (facets.go), built once with the store.
	jobs  *Jobs
	sinks *Sinks
}

// Info is a shard as the metadata store knows it.
type Info struct {
	Name  string               `json:"name"`
	DSN   string               `json:"-"`
	State inventory.ShardState `json:"state"`
}

// Topology is one published version of the partition map with the shards it names.
type Topology struct {
	Version    int64
	Partitions int
	Map        router.Map
	Shards     map[string]Info
}

// ErrNoTopology means the metadata store holds no topology yet (run `shardstock init`).
var ErrNoTopology = errors.New("no topology in the metadata store: run `shardstock init` first")

// ErrTopologyExists means the metadata store already holds a topology: init never overwrites it.
var ErrTopologyExists = errors.New("the metadata store already holds a topology; init refuses to overwrite it")

// OpenMeta connects to the metadata store.
func OpenMeta(dsn string) (*Meta, error) {
	db, err := sql.Open("mysql", NormalizeDSN(dsn))
	if err != nil {
		return nil, metaErr(err)
	}
	db.SetMaxOpenConns(8)
	holds, err := sql.Open("mysql", NormalizeDSN(dsn))
	if err != nil {
		db.Close()
		return nil, metaErr(err)
	}
	holds.SetMaxOpenConns(maxWebhookHolds)
	holds.SetMaxIdleConns(2)
	m := newMeta(db)
	m.holds = holds
	classify := func(err error) error {
		if err == nil {
			return nil
		}
		return metaError("idempotency key", err)
	}
	inTx := func(ctx context.Context, fn func(tx *sql.Tx) error) error {
		return classify(RetryTx(ctx, db, nil, fn))
	}
	if m.keys, err = newKeyTable(db, dsn, 8, inTx, classify); err != nil {
		db.Close()
		holds.Close()
		return nil, metaErr(err)
	}
	return m, nil
}

// DB exposes the pool for tests and test harnesses only; production code calls the store's
// methods.
func (m *Meta) DB() *sql.DB { return m.db }

// Close closes the pools.
func (m *Meta) Close() error { return errors.Join(m.keys.close(), m.db.Close(), m.holds.Close()) }

// Ping checks that the metadata store answers.
func (m *Meta) Ping(ctx context.Context) error {
	return metaErr(m.db.PingContext(ctx))
}

// CurrentVersion returns the highest published topology version (ErrNoTopology when none).
func (m *Meta) CurrentVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := m.db.QueryRowContext(ctx, "SELECT MAX(version) FROM topology_versions").Scan(&v); err != nil {
		return 0, metaErr(err)
	}
	if !v.Valid {
		return 0, ErrNoTopology
	}
	return v.Int64, nil
}

// Load reads the current topology in one consistent snapshot.
func (m *Meta) Load(ctx context.Context) (Topology, error) {
	tx, err := m.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return Topology{}, metaErr(err)
	}
	defer tx.Rollback()
	var t Topology
	err = tx.QueryRowContext(ctx, "SELECT version, partitions FROM topology_versions ORDER BY version DESC LIMIT 1").Scan(&t.Version, &t.Partitions)
	if errors.Is(err, sql.ErrNoRows) {
		return Topology{}, ErrNoTopology
	}
	if err != nil {
		return Topology{}, metaErr(err)
	}
	t.Map = router.Map{Owners: make([]string, t.Partitions)}
	rows, err := tx.QueryContext(ctx, "SELECT partition_id, shard FROM partition_owners WHERE version = ?", t.Version)
	if err != nil {
		return Topology{}, metaErr(err)
	}
	for rows.Next() {
		var p int
		var s string
		if err := rows.Scan(&p, &s); err != nil {
			rows.Close()
			return Topology{}, metaErr(err)
		}
		if p >= 0 && p < t.Partitions {
			t.Map.Owners[p] = s
		}
	}
	rows.Close()
	if err := t.Map.Validate(); err != nil {
		return Topology{}, fmt.Errorf("meta store: topology version %d is incomplete: %w", t.Version, err)
	}
	t.Shards = map[string]Info{}
	rows, err = tx.QueryContext(ctx, "SELECT name, dsn, state FROM shards")
	if err != nil {
		return Topology{}, metaErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var si Info
		if err := rows.Scan(&si.Name, &si.DSN, &si.State); err != nil {
			return Topology{}, metaErr(err)
		}
		t.Shards[si.Name] = si
	}
	return t, metaErr(rows.Err())
}

// CreateTopology writes the shards and version 1 of the map. It refuses when any topology exists.
func (m *Meta) CreateTopology(ctx context.Context, shards []Info, mp router.Map) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return metaErr(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM topology_versions FOR UPDATE").Scan(&n); err != nil {
		return metaErr(err)
	}
	if n > 0 {
		return ErrTopologyExists
	}
	for _, s := range shards {
		if _, err := tx.ExecContext(ctx, "INSERT INTO shards (name, dsn, state) VALUES (?, ?, ?)", s.Name, s.DSN, inventory.ShardActive); err != nil {
			return fmt.Errorf("meta store: add shard %s: %w", s.Name, err)
		}
	}
	if err := insertMapVersion(ctx, tx, 1, mp, "init"); err != nil {
		return err
	}
	return tx.Commit()
}

func insertMapVersion(ctx context.Context, tx *sql.Tx, version int64, mp router.Map, note string) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO topology_versions (version, partitions, note) VALUES (?, ?, ?)",
		version, mp.Partitions(), note); err != nil {
		return fmt.Errorf("meta store: publish version %d: %w", version, err)
	}
	for start := 0; start < mp.Partitions(); start += 1000 {
		end := min(start+1000, mp.Partitions())
		args := make([]any, 0, 3*(end-start))
		for p := start; p < end; p++ {
			args = append(args, version, p, mp.Owners[p])
		}
		q := multiRowInsert("INSERT INTO partition_owners (version, partition_id, shard) VALUES ", "(?,?,?)", end-start, "")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("meta store: publish version %d: %w", version, err)
		}
	}
	return nil
}

// PublishMap publishes mp as the next topology version, provided the current version is still
// expected (optimistic: a concurrent publisher makes this fail). It returns the new version.
func (m *Meta) PublishMap(ctx context.Context, expected int64, mp router.Map, note string) (int64, error) {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, metaErr(err)
	}
	defer tx.Rollback()
	var cur int64
	var partitions int
	if err := tx.QueryRowContext(ctx, "SELECT version, partitions FROM topology_versions ORDER BY version DESC LIMIT 1 FOR UPDATE").Scan(&cur, &partitions); err != nil {
		return 0, metaErr(err)
	}
	if cur != expected {
		return 0, fmt.Errorf("meta store: topology is at version %d, expected %d", cur, expected)
	}
	if mp.Partitions() != partitions {
		return 0, fmt.Errorf("meta store: map has %d partitions, cluster has %d", mp.Partitions(), partitions)
	}
	if err := insertMapVersion(ctx, tx, cur+1, mp, note); err != nil {
		return 0, err
	}
	return cur + 1, tx.Commit()
}

// AsMetaUnavailable returns err as meta_unavailable when it says that the metadata store could
// not be reached: a connection that failed or broke (the network, the TLS handshake: see
// connectivity), a server shutting down, out of connections or killing the session. Any other
// error (a domain error, a query the store answered with an error, a cancellation or deadline)
// is returned unchanged.
func AsMetaUnavailable(err error) error {
	var de *inventory.Error
	var me *mysql.MySQLError
	switch {
	case err == nil || errors.As(err, &de) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &me):
		switch me.Number {
		case 1040, 1053, 1203, 1290, 1927: // too many connections, shutdown, read-only, killed
			return metaUnavailable(err)
		}
		return err
	case connectivity(err):
		return metaUnavailable(err)
	}
	return err
}
