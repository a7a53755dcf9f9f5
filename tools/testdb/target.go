package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// maxDatabaseName is MySQL's limit on identifier length.
const maxDatabaseName = 64

// Target is a server tests create databases on.
type Target struct {
	cfg   *mysql.Config // connection settings without a database
	admin *sql.DB       // used for CREATE and DROP DATABASE
}

// newTarget parses dsn, connects and pings.
func newTarget(ctx context.Context, dsn string) (*Target, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse %s=%q: %w", EnvDSN, dsn, err)
	}
	cfg.DBName = ""
	cfg.ParseTime = true
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", cfg.Addr, err)
	}
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	return &Target{cfg: cfg, admin: admin}, nil
}

// DSN returns a DSN for database ("" for none) on this server with
// parseTime=true.
func (tg *Target) DSN(database string) string {
	cfg := tg.cfg.Clone()
	cfg.DBName = database
	return cfg.FormatDSN()
}

// NewDatabase creates a database named prefix plus a random suffix, drops it
// when the test ends, and returns its DSN.
func (tg *Target) NewDatabase(t testing.TB, prefix string) string {
	t.Helper()
	name := databaseName(prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tg.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("testdb: create database %s on %s: %v", name, tg.cfg.Addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := tg.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	return tg.DSN(name)
}

// close releases the admin connections.
func (tg *Target) close() {
	tg.admin.Close()
}

// databaseName turns prefix into a safe identifier and appends a random
// suffix: lower-case letters, digits and underscores only.
func databaseName(prefix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(prefix) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	p := b.String()
	if p == "" {
		p = "test"
	}
	suffix := randomHex(6)
	if len(p)+1+len(suffix) > maxDatabaseName {
		p = p[:maxDatabaseName-1-len(suffix)]
	}
	return p + "_" + suffix
}

// randomHex returns 2n random hex characters.
func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(buf)
}
