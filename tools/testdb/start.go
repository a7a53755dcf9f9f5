package testdb

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardstock/shardstock/tools/mysqlproc"
	"github.com/shardstock/shardstock/tools/testcerts"
)

// StartServer starts a dedicated throwaway server for a test that stops,
// kills or restarts it (shard-failure tests) and stops it and removes its
// data when the test ends. It needs a server binary even when
// SHARDSTOCK_TEST_MYSQL is set, and fails the test if there is none.
func StartServer(t testing.TB) *mysqlproc.Server {
	t.Helper()
	return startServer(t, nil)
}

// TLSServer is a dedicated throwaway server that accepts only TLS connections
// (--require-secure-transport), with a certificate for 127.0.0.1 signed by CA, whose PEM is in
// CAFile. Dir holds its files; tests may write more there.
type TLSServer struct {
	*mysqlproc.Server
	CA     *testcerts.CA
	CAFile string
	Dir    string
}

// StartTLSServer is StartServer for a server that requires TLS, from a CA made for the test.
func StartTLSServer(t testing.TB) *TLSServer {
	t.Helper()
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "shardstock test CA")
	certFile, keyFile := ca.Server(t, "mariadb", "127.0.0.1").WriteFiles(t, dir, "server")
	caFile := ca.WriteFile(t, dir, "ca.pem")
	srv := startServer(t, &mysqlproc.TLSFiles{CAFile: caFile, CertFile: certFile, KeyFile: keyFile, RequireSecureTransport: true})
	return &TLSServer{Server: srv, CA: ca, CAFile: caFile, Dir: dir}
}

// Exec runs statements as root (over TLS, the certificate unchecked), e.g. to create accounts.
func (s *TLSServer) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	db, err := sql.Open("mysql", "root@tcp("+s.Addr+")/?tls=preferred")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("testdb: %s: %v", q, err)
		}
	}
}

func startServer(t testing.TB, files *mysqlproc.TLSFiles) *mysqlproc.Server {
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
	srv, err := startInDir(ctx, dir, files)
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

// startInDir starts a throwaway server with its data and log under dir (with TLS files unless
// files is nil).
func startInDir(ctx context.Context, dir string, files *mysqlproc.TLSFiles) (*mysqlproc.Server, error) {
	return mysqlproc.Start(ctx, mysqlproc.Options{
		DataDir: filepath.Join(dir, "data"),
		LogPath: filepath.Join(dir, "server.log"),
		TLS:     files,
	})
}
