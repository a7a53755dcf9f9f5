package shard

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/go-sql-driver/mysql"
	gomigrate "github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/shardstock/shardstock/configs"
)

// The schema of every table shard owns, as golang-migrate files embedded at build time:
// schema/shard for each shard's tables, schema/meta for the metadata store.

//go:embed schema/shard/*.sql schema/meta/*.sql
var schemaFiles embed.FS

// Schema names one of the two embedded migration sets.
type Schema int

// The two schemas: the metadata store's and every shard's (Store's).
const (
	MetaSchema Schema = iota
	StoreSchema
)

func (s Schema) files() fs.FS {
	dir := "schema/shard"
	if s == MetaSchema {
		dir = "schema/meta"
	}
	sub, err := fs.Sub(schemaFiles, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// SchemaVersion is a database's migration state.
type SchemaVersion struct {
	Version uint
	Dirty   bool
	None    bool // no migration applied yet
}

// withMigrator opens a dedicated connection (golang-migrate needs multiStatements) and runs fn.
func withMigrator(ctx context.Context, dsn string, schema Schema, fn func(m *gomigrate.Migrate) error) error {
	cfg, err := mysql.ParseDSN(NormalizeDSN(dsn))
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

// MigrateUp applies every pending migration of the schema to the database at dsn.
func MigrateUp(ctx context.Context, dsn string, schema Schema) error {
	return withMigrator(ctx, dsn, schema, func(m *gomigrate.Migrate) error {
		if err := m.Up(); err != nil && !errors.Is(err, gomigrate.ErrNoChange) {
			return err
		}
		return nil
	})
}

// MigrateDown rolls back n migrations of the schema on the database at dsn.
func MigrateDown(ctx context.Context, dsn string, schema Schema, n int) error {
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

// MigrationVersion reports the migration state of the schema on the database at dsn.
func MigrationVersion(ctx context.Context, dsn string, schema Schema) (SchemaVersion, error) {
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

// EnsureDatabase creates the database named in dsn when it does not exist yet.
func EnsureDatabase(ctx context.Context, dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("bad DSN: %w", err)
	}
	if cfg.DBName == "" {
		return fmt.Errorf("DSN %q names no database", configs.Redact(dsn))
	}
	name := cfg.DBName
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4")
	return err
}
