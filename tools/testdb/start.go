package testdb

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardstock/shardstock/tools/mysqlproc"
)

// StartServer starts a dedicated throwaway server for a test that stops,
// kills or restarts it (shard-failure tests) and stops it and removes its
// data when the test ends. It needs a server binary even when
// SHARDSTOCK_TEST_MYSQL is set, and fails the test if there is none.
func StartServer(t testing.TB) *mysqlproc.Server {
	t.Helper()
	if _, err := mysqlproc.FindBinary(); err != nil {
		t.Fatalf("testdb: StartServer needs a local server binary (%s does not help here): %v", EnvDSN, err)
	}
	dir, err := os.MkdirTemp("", "shardstock-testdb-")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := startInDir(ctx, dir)
	if err != nil {
		t.Fatalf("testdb: start server: %v\n%s", err, howToGetServer)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("testdb: stop server: %v", err)
		}
	})
	return srv
}

// startInDir starts a throwaway server with its data and log under dir.
func startInDir(ctx context.Context, dir string) (*mysqlproc.Server, error) {
	return mysqlproc.Start(ctx, mysqlproc.Options{
		DataDir: filepath.Join(dir, "data"),
		LogPath: filepath.Join(dir, "server.log"),
	})
}
