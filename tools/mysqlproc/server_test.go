package mysqlproc_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/tools/mysqlproc"
)

// startServer starts a server in a fresh temporary data dir and stops it at
// the end of the test.
func startServer(t *testing.T, opts mysqlproc.Options) *mysqlproc.Server {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), "data")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := mysqlproc.Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// openDB opens a connection pool and closes it at the end of the test.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustExec runs statements and fails the test on the first error.
func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// countRows returns SELECT COUNT(*) of table.
func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestFindBinary(t *testing.T) {
	path, err := mysqlproc.FindBinary()
	if err != nil {
		t.Fatalf("FindBinary: %v", err)
	}
	if !strings.Contains(filepath.Base(path), "d") {
		t.Errorf("FindBinary = %q, want a server daemon", path)
	}
}

func TestStartKillRestartKeepsData(t *testing.T) {
	s := startServer(t, mysqlproc.Options{})
	if got, want := s.DSN("app"), "root@tcp("+s.Addr+")/app?parseTime=true"; got != want {
		t.Errorf("DSN = %q, want %q", got, want)
	}
	if !strings.HasSuffix(s.Addr, ":"+strconv.Itoa(s.Port())) || !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Errorf("Addr %q does not match Port %d", s.Addr, s.Port())
	}

	root := openDB(t, s.DSN(""))
	mustExec(t, root,
		"CREATE DATABASE app",
		"CREATE TABLE app.items (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB",
		"INSERT INTO app.items VALUES (1, 'a'), (2, 'b')",
	)
	root.Close()

	port := s.Port()
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if s.Running() {
		t.Fatal("Running after Kill")
	}
	if db := openDB(t, s.DSN("app")); db.Ping() == nil {
		t.Fatal("ping succeeded after Kill")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	if s.Port() != port {
		t.Errorf("port changed on restart: %d -> %d", port, s.Port())
	}
	db := openDB(t, s.DSN("app"))
	if n := countRows(t, db, "items"); n != 2 {
		t.Errorf("rows after crash restart = %d, want 2", n)
	}
	mustExec(t, db, "INSERT INTO items VALUES (3, 'c')")
	db.Close()

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart after Stop: %v", err)
	}
	db = openDB(t, s.DSN("app"))
	if n := countRows(t, db, "items"); n != 3 {
		t.Errorf("rows after clean restart = %d, want 3", n)
	}
}

func TestStartReusesExistingDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, mysqlproc.Options{DataDir: dir})
	mustExec(t, openDB(t, s.DSN("")), "CREATE DATABASE kept")
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	s2 := startServer(t, mysqlproc.Options{DataDir: dir})
	var name string
	if err := openDB(t, s2.DSN("")).QueryRow("SHOW DATABASES LIKE 'kept'").Scan(&name); err != nil {
		t.Fatalf("database from first run missing: %v", err)
	}
}

func TestStartFixedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := mysqlproc.Start(ctx, mysqlproc.Options{DataDir: filepath.Join(t.TempDir(), "data"), Port: port})
	if err == nil {
		s.Stop()
		t.Fatal("Start on a busy port succeeded")
	}
	if !errors.Is(err, mysqlproc.ErrPortInUse) {
		t.Errorf("Start on busy port: %v, want ErrPortInUse", err)
	}
}

func TestStartLongDataDirPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("long-directory-name-", 6), "data")
	s := startServer(t, mysqlproc.Options{DataDir: dir})
	if err := openDB(t, s.DSN("")).Ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// TestParallelStartsShareOneTemplate starts servers concurrently against an
// empty cache dir, so they race to create the template, and reports how
// long a cold (template) and a warm (copy only) start take.
func TestParallelStartsShareOneTemplate(t *testing.T) {
	cache := t.TempDir()
	begin := time.Now()
	startServer(t, mysqlproc.Options{CacheDir: cache})
	t.Logf("cold start (initialise template + copy + boot): %v", time.Since(begin))

	begin = time.Now()
	startServer(t, mysqlproc.Options{CacheDir: cache})
	t.Logf("warm start (copy + boot): %v", time.Since(begin))

	cache2 := t.TempDir()
	var wg sync.WaitGroup
	servers := make([]*mysqlproc.Server, 3)
	errs := make([]error, 3)
	for i := range servers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			servers[i], errs[i] = mysqlproc.Start(ctx, mysqlproc.Options{
				DataDir:  filepath.Join(t.TempDir(), "data"),
				CacheDir: cache2,
			})
		})
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Errorf("parallel Start %d: %v", i, errs[i])
			continue
		}
		if err := openDB(t, s.DSN("")).Ping(); err != nil {
			t.Errorf("ping server %d: %v", i, err)
		}
		if err := s.Stop(); err != nil {
			t.Errorf("Stop %d: %v", i, err)
		}
	}
	entries, _ := filepath.Glob(filepath.Join(cache2, "mysql-template-*"))
	if len(entries) != 1 {
		t.Errorf("templates in cache = %v, want exactly one", entries)
	}
}

// A frozen server answers nothing (a query times out) until it is thawed; Stop works on a frozen
// server.
func TestFreezeThaw(t *testing.T) {
	s := startServer(t, mysqlproc.Options{})
	db := openDB(t, s.DSN("")+"&timeout=1s&readTimeout=1s")
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if err := s.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	var one int
	err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	cancel()
	if err == nil {
		t.Fatal("a frozen server answered")
	}
	if err := s.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after Thaw: %d, %v", one, err)
	}
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop of a frozen server: %v", err)
	}
}
