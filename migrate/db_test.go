package migrate_test

import (
	"database/sql"
	"testing"

	"github.com/shardstock/shardstock/shard"
)

type sqlDB struct{ db *sql.DB }

func (s sqlDB) QueryRow(q string, args ...any) interface{ Scan(...any) error } {
	return s.db.QueryRow(q, args...)
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", shard.NormalizeDSN(dsn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
