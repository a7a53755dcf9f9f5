// Package migrate holds the schema migrations over every shard and the metadata store, and
// (later) the online resharding engine and the verifier.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	gomysql "github.com/go-sql-driver/mysql"
	gomigrate "github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/shardstock/shardstock/shard"
)

// Schema names which embedded migration set to run.
type Schema int

// The two schemas: the metadata store and the per-shard schema.
const (
	MetaSchema Schema = iota
	ShardSchema
)

func (s Schema) files() fs.FS {
	if s == MetaSchema {
		return shard.MetaMigrations()
	}
	return shard.ShardMigrations()
}

// SchemaVersion is a database's migration state.
type SchemaVersion struct {
	Version uint
	Dirty   bool
	None    bool // no migration applied yet
}

// withMigrator opens a dedicated connection (golang-migrate needs multiStatements) and runs fn.
func withMigrator(ctx context.Context, dsn string, schema Schema, fn func(m *gomigrate.Migrate) error) error {
	cfg, err := gomysql.ParseDSN(shard.NormalizeDSN(dsn))
	if err != nil {
		return fmt.Errorf("bad DSN: %w", err)
	}
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	drv, err := migratemysql.WithInstance(db, &migratemysql.Config{})
	if err != nil {
		return fmt.Errorf("migration driver: %w", err)
	}
	src, err := iofs.New(schema.files(), ".")
	if err != nil {
		return err
	}
	m, err := gomigrate.NewWithInstance("iofs", src, "mysql", drv)
	if err != nil {
		return err
	}
	defer m.Close()
	return fn(m)
}

// Up applies every pending migration of the schema to the database at dsn.
func Up(ctx context.Context, dsn string, schema Schema) error {
	return withMigrator(ctx, dsn, schema, func(m *gomigrate.Migrate) error {
		if err := m.Up(); err != nil && !errors.Is(err, gomigrate.ErrNoChange) {
			return err
		}
		return nil
	})
}

// Down rolls back n migrations.
func Down(ctx context.Context, dsn string, schema Schema, n int) error {
	if n <= 0 {
		return fmt.Errorf("down needs a positive number of steps, got %d", n)
	}
	return withMigrator(ctx, dsn, schema, func(m *gomigrate.Migrate) error {
		if err := m.Steps(-n); err != nil && !errors.Is(err, gomigrate.ErrNoChange) {
			return err
		}
		return nil
	})
}

// Version reports the database's migration version.
func Version(ctx context.Context, dsn string, schema Schema) (SchemaVersion, error) {
	var out SchemaVersion
	err := withMigrator(ctx, dsn, schema, func(m *gomigrate.Migrate) error {
		v, dirty, err := m.Version()
		if errors.Is(err, gomigrate.ErrNilVersion) {
			out.None = true
			return nil
		}
		out.Version, out.Dirty = v, dirty
		return err
	})
	return out, err
}
