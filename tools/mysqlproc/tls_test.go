package mysqlproc_test

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/tools/mysqlproc"
	"github.com/shardstock/shardstock/tools/testcerts"
)

// sslCipher returns the connection's Ssl_cipher ("" without TLS).
func sslCipher(t *testing.T, dsn string) string {
	t.Helper()
	var name, cipher string
	if err := openDB(t, dsn).QueryRow("SHOW STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		t.Fatalf("Ssl_cipher over %s: %v", dsn, err)
	}
	return cipher
}

// A server started with TLS files serves the certificate (verified against the test's CA), also
// after a restart; without RequireSecureTransport plain connections still work.
func TestStartWithTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "mysqlproc CA")
	certFile, keyFile := ca.Server(t, "mariadb", "127.0.0.1").WriteFiles(t, dir, "server")
	s := startServer(t, mysqlproc.Options{TLS: &mysqlproc.TLSFiles{
		CAFile: ca.WriteFile(t, dir, "ca.pem"), CertFile: certFile, KeyFile: keyFile}})

	const name = "mysqlproc-test-ca"
	if err := mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	defer mysql.DeregisterTLSConfig(name)
	verified := "root@tcp(" + s.Addr + ")/?tls=" + name
	if sslCipher(t, verified) == "" {
		t.Fatal("no TLS with the server's CA")
	}
	if c := sslCipher(t, s.DSN("")); c != "" {
		t.Errorf("plain DSN got cipher %q", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if sslCipher(t, verified) == "" {
		t.Error("no TLS after Restart")
	}
}

func TestStartTLSNeedsEveryFile(t *testing.T) {
	_, err := mysqlproc.Start(context.Background(), mysqlproc.Options{
		DataDir: filepath.Join(t.TempDir(), "data"), TLS: &mysqlproc.TLSFiles{CertFile: "a", KeyFile: "b"}})
	if err == nil {
		t.Fatal("Start accepted TLS files without a CA")
	}
}
