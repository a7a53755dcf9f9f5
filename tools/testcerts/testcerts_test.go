package testcerts_test

import (
	"crypto/x509"
	"os"
	"testing"

	"github.com/shardstock/shardstock/tools/testcerts"
)

func TestIssuedCertificatesVerify(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	srv := ca.Server(t, "mysql", "127.0.0.1", "db.test")
	for _, host := range []string{"127.0.0.1", "db.test"} {
		if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.2"}); err == nil {
		t.Error("server certificate verified for a host it does not name")
	}
	cli := ca.Client(t, "app")
	if _, err := cli.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	other := testcerts.NewCA(t, "other CA")
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: other.Pool(), DNSName: "127.0.0.1"}); err == nil {
		t.Error("server certificate verified under another CA")
	}
	_ = cli.TLS(t)
	dir := t.TempDir()
	certFile, keyFile := srv.WriteFiles(t, dir, "server")
	for _, f := range []string{certFile, keyFile, ca.WriteFile(t, dir, "ca.pem")} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
}
