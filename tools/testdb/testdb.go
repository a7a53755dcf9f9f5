// Package testdb is the one helper integration tests use to get a MySQL
// server: a shared throwaway mariadbd per test binary, or the server named by
// SHARDSTOCK_TEST_MYSQL, plus dedicated servers for tests that kill them.
//
// A package's tests use it through TestMain:
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
package testdb

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/tools/mysqlproc"
)

// EnvDSN names the environment variable that points tests at an existing
// server instead of a throwaway process, e.g. "root@tcp(127.0.0.1:3306)/".
const EnvDSN = "SHARDSTOCK_TEST_MYSQL"

// startTimeout bounds starting a throwaway server.
const startTimeout = 2 * time.Minute

// howToGetServer is appended to every "no server" failure.
const howToGetServer = `integration tests need MySQL/MariaDB. Either
  - install a server binary: sudo apt-get install -y mariadb-server (Debian/Ubuntu),
    brew install mariadb (macOS), or run tools/ensure-mysql.sh; or
  - point tests at a running server: export ` + EnvDSN + `='root@tcp(127.0.0.1:3306)/'`

// shared is the package-wide server, created on first use and torn down by
// Main.
var shared struct {
	mu      sync.Mutex
	target  *Target
	err     error
	server  *mysqlproc.Server // nil when EnvDSN is used
	tempDir string
}

// Main runs the package's tests and then stops the shared server and
// removes its data; it calls os.Exit with the tests' result.
func Main(m *testing.M) {
	code := m.Run()
	stopShared()
	os.Exit(code)
}

// Server returns the shared server of this test binary, starting it on first
// use: the server named by SHARDSTOCK_TEST_MYSQL when that is set, otherwise
// a throwaway mariadbd process. It fails the test when neither is available.
func Server(t testing.TB) *Target {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.target == nil && shared.err == nil {
		shared.target, shared.err = openShared()
	}
	if shared.err != nil {
		t.Fatalf("testdb: no MySQL server: %v\n%s", shared.err, howToGetServer)
	}
	return shared.target
}

// openShared connects to SHARDSTOCK_TEST_MYSQL or starts a throwaway server.
func openShared() (*Target, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		tg, err := newTarget(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("server from %s: %w", EnvDSN, err)
		}
		return tg, nil
	}
	dir, err := os.MkdirTemp("", "shardstock-testdb-")
	if err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	srv, err := startInDir(ctx, dir, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	tg, err := newTarget(ctx, srv.DSN(""))
	if err != nil {
		srv.Stop()
		os.RemoveAll(dir)
		return nil, err
	}
	shared.server, shared.tempDir = srv, dir
	return tg, nil
}

// stopShared stops the shared server, if one was started, and removes its
// data directory.
func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.target != nil {
		shared.target.close()
	}
	if shared.server != nil {
		if err := shared.server.Stop(); err != nil {
			os.Stderr.WriteString("testdb: stop shared server: " + err.Error() + "\n")
		}
	}
	if shared.tempDir != "" {
		os.RemoveAll(shared.tempDir)
	}
	shared.target, shared.err, shared.server, shared.tempDir = nil, nil, nil, ""
}
