package testdb_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/tools/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// openDB opens a pool on dsn and closes it when the test ends.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestNewDatabaseIsolation(t *testing.T) {
	tg := testdb.Server(t)
	if tg != testdb.Server(t) {
		t.Fatal("Server returned a different target on second call")
	}
	var dropped string
	t.Run("two databases", func(t *testing.T) {
		dsnA := tg.NewDatabase(t, "Iso-A")
		dsnB := tg.NewDatabase(t, "iso_b")
		if dsnA == dsnB {
			t.Fatalf("same DSN twice: %s", dsnA)
		}
		if !strings.Contains(dsnA, "parseTime=true") {
			t.Errorf("DSN %q lacks parseTime=true", dsnA)
		}
		a, b := openDB(t, dsnA), openDB(t, dsnB)
		for _, db := range []*sql.DB{a, b} {
			if _, err := db.Exec("CREATE TABLE items (id INT PRIMARY KEY, at DATETIME)"); err != nil {
				t.Fatalf("create table: %v", err)
			}
		}
		if _, err := a.Exec("INSERT INTO items VALUES (1, NOW())"); err != nil {
			t.Fatalf("insert: %v", err)
		}
		var n int
		if err := b.QueryRow("SELECT COUNT(*) FROM items").Scan(&n); err != nil || n != 0 {
			t.Errorf("rows in other database = %d, %v; want 0", n, err)
		}
		var at time.Time // parseTime=true makes DATETIME scan into time.Time
		if err := a.QueryRow("SELECT at FROM items").Scan(&at); err != nil {
			t.Errorf("scan DATETIME into time.Time: %v", err)
		}
		if err := a.QueryRow("SELECT DATABASE()").Scan(&dropped); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(dropped, "iso_a_") {
			t.Errorf("database name %q does not start with sanitised prefix iso_a_", dropped)
		}
	})
	var name string
	err := openDB(t, tg.DSN("")).QueryRow("SHOW DATABASES LIKE '" + dropped + "'").Scan(&name)
	if err != sql.ErrNoRows {
		t.Errorf("database %s still exists after test cleanup (err=%v)", dropped, err)
	}
}

func TestStartServerCanBeKilledAndRestarted(t *testing.T) {
	srv := testdb.StartServer(t)
	db := openDB(t, srv.DSN(""))
	if _, err := db.Exec("CREATE DATABASE shard"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := db.Ping(); err == nil {
		t.Fatal("ping succeeded against killed server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	var name string
	if err := openDB(t, srv.DSN("")).QueryRow("SHOW DATABASES LIKE 'shard'").Scan(&name); err != nil {
		t.Errorf("database lost across kill: %v", err)
	}
}

// TestEnvDSN runs this test binary again with SHARDSTOCK_TEST_MYSQL set and
// checks the shared target is that server. It uses the server on
// 127.0.0.1:3306 only when one answers there.
func TestEnvDSN(t *testing.T) {
	const dsn = "root@tcp(127.0.0.1:3306)/"
	if os.Getenv("TESTDB_CHILD") == "1" {
		tg := testdb.Server(t)
		if got := tg.DSN("x"); !strings.Contains(got, "127.0.0.1:3306") {
			t.Fatalf("DSN = %q, want the server from %s", got, testdb.EnvDSN)
		}
		db := openDB(t, tg.NewDatabase(t, "envdsn"))
		if _, err := db.Exec("CREATE TABLE t (id INT)"); err != nil {
			t.Fatalf("create table on env server: %v", err)
		}
		return
	}
	probe := openDB(t, dsn+"?timeout=2s")
	if err := probe.Ping(); err != nil {
		t.Fatalf("no server answers on %s, needed for this test: %v", dsn, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnvDSN$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTDB_CHILD=1", testdb.EnvDSN+"="+dsn)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEnvDSN") {
		t.Fatalf("child with %s=%s: %v\n%s", testdb.EnvDSN, dsn, err, out)
	}
}

func TestEnvDSNUnreachableFailsClearly(t *testing.T) {
	if os.Getenv("TESTDB_CHILD") == "2" {
		testdb.Server(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnvDSNUnreachableFailsClearly$")
	cmd.Env = append(os.Environ(), "TESTDB_CHILD=2", testdb.EnvDSN+"=root@tcp(127.0.0.1:1)/?timeout=1s")
	out, _ := cmd.CombinedOutput()
	for _, want := range []string{"FAIL", "mariadb-server", testdb.EnvDSN} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}
