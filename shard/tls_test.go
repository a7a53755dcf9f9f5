package shard_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/mysqlproc"
	"github.com/shardstock/shardstock/tools/testcerts"
	"github.com/shardstock/shardstock/tools/testdb"
)

// The options convert from the config's type (the fields must stay the same).
var _ = shard.TLSOptions(configs.MySQLTLS{})

// appPassword is the password of the TLS test account; no error may show it.
const appPassword = "Tls-Secret-pw-4711"

// tlsServer is a MariaDB that requires TLS, with a certificate for 127.0.0.1 signed by ca, and
// an account app that must present a client certificate with subject /CN=shardstock-app.
type tlsServer struct {
	srv *mysqlproc.Server
	ca  *testcerts.CA
	dir string
}

// startTLSServer starts the server (its own process, stopped at the end of the test) and
// creates the account.
func startTLSServer(t *testing.T) *tlsServer {
	t.Helper()
	s := testdb.StartTLSServer(t)
	s.Exec(t,
		"CREATE USER 'app'@'%' IDENTIFIED BY '"+appPassword+"' REQUIRE SUBJECT '/CN=shardstock-app'",
		"CREATE DATABASE tlsdb",
		"GRANT ALL ON tlsdb.* TO 'app'@'%'")
	return &tlsServer{srv: s.Server, ca: s.CA, dir: s.Dir}
}

// register registers a TLS setting under a name unique to the test and returns the name.
func register(t *testing.T, name string, o shard.TLSOptions) string {
	t.Helper()
	name = "test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + name
	if err := shard.RegisterTLS(name, o); err != nil {
		t.Fatalf("RegisterTLS(%s): %v", name, err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	return name
}

// open opens a store as app with the TLS setting name ("" for none) and pings it.
func (s *tlsServer) open(t *testing.T, tlsName string) (*shard.Store, error) {
	t.Helper()
	dsn := "app:" + appPassword + "@tcp(" + s.srv.Addr + ")/tlsdb"
	if tlsName != "" {
		dsn += "?tls=" + tlsName
	}
	st, err := shard.Open("s1", dsn, shard.PoolOptions{MaxOpen: 2})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return st, st.Ping(ctx)
}

// refused asserts err is an error mentioning want and not the password.
func refused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: connected, want it refused", what)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v, want an error mentioning %q", what, err, want)
	}
	if strings.Contains(err.Error(), appPassword) {
		t.Errorf("%s: the error shows the password: %v", what, err)
	}
}

func TestMySQLTLSWithClientCertificate(t *testing.T) {
	s := startTLSServer(t)
	caFile := filepath.Join(s.dir, "ca.pem")
	clientCert, clientKey := s.ca.Client(t, "shardstock-app").WriteFiles(t, s.dir, "client")
	strangerCert, strangerKey := s.ca.Client(t, "someone-else").WriteFiles(t, s.dir, "stranger")

	t.Run("CA and client certificate", func(t *testing.T) {
		name := register(t, "client", shard.TLSOptions{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey})
		st, err := s.open(t, name)
		if err != nil {
			t.Fatalf("open with tls=%s: %v", name, err)
		}
		var variable, cipher, user string
		if err := st.DB().QueryRow("SHOW STATUS LIKE 'Ssl_cipher'").Scan(&variable, &cipher); err != nil {
			t.Fatal(err)
		}
		if cipher == "" {
			t.Error("Ssl_cipher is empty: the connection is not encrypted")
		}
		if err := st.DB().QueryRow("SELECT CURRENT_USER()").Scan(&user); err != nil || user != "app@%" {
			t.Errorf("CURRENT_USER() = %q, %v", user, err)
		}
		var required int
		if err := st.DB().QueryRow("SELECT @@require_secure_transport").Scan(&required); err != nil || required != 1 {
			t.Errorf("require_secure_transport = %d, %v; want 1 (mysqlproc.TLSFiles.RequireSecureTransport)", required, err)
		}
		t.Logf("connected as %s with %s", user, cipher)
	})
	t.Run("without a client certificate", func(t *testing.T) {
		name := register(t, "no-client-cert", shard.TLSOptions{CAFile: caFile})
		_, err := s.open(t, name)
		refused(t, "no client certificate", err, "Access denied for user 'app'")
	})
	t.Run("client certificate with another subject", func(t *testing.T) {
		name := register(t, "stranger", shard.TLSOptions{CAFile: caFile, CertFile: strangerCert, KeyFile: strangerKey})
		_, err := s.open(t, name)
		refused(t, "another subject", err, "Access denied for user 'app'")
	})
	t.Run("wrong CA", func(t *testing.T) {
		other := testcerts.NewCA(t, "some other CA")
		name := register(t, "wrong-ca", shard.TLSOptions{CAFile: other.WriteFile(t, t.TempDir(), "other.pem"),
			CertFile: clientCert, KeyFile: clientKey})
		_, err := s.open(t, name)
		refused(t, "wrong CA", err, "x509: certificate signed by unknown authority")
		refused(t, "wrong CA", err, "shard s1 is unavailable")
	})
	t.Run("server name not in the certificate", func(t *testing.T) {
		name := register(t, "wrong-name", shard.TLSOptions{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey,
			ServerName: "db.other.test"})
		_, err := s.open(t, name)
		refused(t, "wrong server name", err, "x509: certificate is not valid for any names, but wanted to match db.other.test")
	})
	t.Run("no TLS", func(t *testing.T) {
		_, err := s.open(t, "")
		refused(t, "plain connection", err, "Access denied for user 'app'")
		// An account without REQUIRE is refused by --require-secure-transport (MariaDB answers
		// "access denied"; MySQL names the insecure transport).
		root, err := shard.Open("s1", "root@tcp("+s.srv.Addr+")/", shard.PoolOptions{MaxOpen: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		refused(t, "plain connection as root", root.Ping(context.Background()), "Access denied for user 'root'")
	})
	t.Run("unregistered name", func(t *testing.T) {
		_, err := s.open(t, "nosuch")
		refused(t, "unregistered tls name", err, "nosuch")
	})
}

func TestRegisterTLSErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "CA")
	caFile := ca.WriteFile(t, dir, "ca.pem")
	certFile, keyFile := ca.Client(t, "app").WriteFiles(t, dir, "client")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    shard.TLSOptions
		want string
	}{
		{"missing-ca", shard.TLSOptions{CAFile: filepath.Join(dir, "missing.pem")}, "ca_file: open"},
		{"ca-not-pem", shard.TLSOptions{CAFile: notPEM}, "holds no PEM certificate"},
		{"cert-without-key", shard.TLSOptions{CAFile: caFile, CertFile: certFile}, "go together"},
		{"key-of-nothing", shard.TLSOptions{CertFile: notPEM, KeyFile: keyFile}, "client certificate"},
		{"true", shard.TLSOptions{CAFile: caFile}, "reserved"},
		{"skip-verify", shard.TLSOptions{CAFile: caFile}, "reserved"},
	}
	for _, tt := range tests {
		err := shard.RegisterTLS(tt.name, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `mysql tls "`+tt.name+`"`) {
			t.Errorf("RegisterTLS(%s) = %v, want an error naming it and mentioning %q", tt.name, err, tt.want)
		}
		mysql.DeregisterTLSConfig(tt.name)
	}
}
