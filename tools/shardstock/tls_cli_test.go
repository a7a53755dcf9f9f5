package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/tools/mysqlproc"
	"github.com/shardstock/shardstock/tools/testcerts"
	"github.com/shardstock/shardstock/tools/testdb"
)

// tlsPassword is the MySQL password of the TLS test account: no output may show it.
const tlsPassword = "Cli-Tls-Secret-5521"

// tlsMariaDB starts a MariaDB that only accepts TLS (--ssl-cert/--ssl-key/--ssl-ca from a CA the
// test makes) with an account app that must present a client certificate /CN=shardstock-app.
func tlsMariaDB(t *testing.T) *testdb.TLSServer {
	t.Helper()
	s := testdb.StartTLSServer(t)
	s.Exec(t,
		"CREATE USER 'app'@'%' IDENTIFIED BY '"+tlsPassword+"' REQUIRE SUBJECT '/CN=shardstock-app'",
		"GRANT ALL ON *.* TO 'app'@'%'")
	return s
}

// tlsConfigFile writes a config whose metadata store is reached over TLS with the named setting
// (its DSN in meta_dsn_file, not in the YAML) and returns its path.
func tlsConfigFile(t *testing.T, dir, name string, setting configs.MySQLTLS, metaDSN string) string {
	t.Helper()
	dsnFile := filepath.Join(dir, name+"-meta.dsn")
	if err := os.WriteFile(dsnFile, []byte(metaDSN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := configs.Default()
	cfg.MetaDSNFile = dsnFile
	cfg.MySQLTLS = map[string]configs.MySQLTLS{name: setting}
	cfg.Webhooks.AllowLoopback = true
	path := filepath.Join(dir, name+".yaml")
	if err := configs.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// noPassword fails when any of the outputs shows the password.
func noPassword(t *testing.T, what string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, tlsPassword) {
			t.Errorf("%s shows the password:\n%s", what, o)
		}
	}
}

// The metadata store and the shards are reached over TLS with a custom CA and a client
// certificate, configured in YAML (mysql_tls) and selected by tls=<name> in every DSN (also the
// shard DSNs stored in the metadata store); a wrong CA fails with a clear error. No output shows
// the password.
func TestMySQLTLSFromConfig(t *testing.T) {
	srv := tlsMariaDB(t)
	dir := srv.Dir
	clientCert, clientKey := srv.CA.Client(t, "shardstock-app").WriteFiles(t, dir, "client")
	good := configs.MySQLTLS{CAFile: srv.CAFile, CertFile: clientCert, KeyFile: clientKey}
	dsn := func(db string) string { return "app:" + tlsPassword + "@tcp(" + srv.Addr + ")/" + db + "?tls=dbtls" }
	cfg := tlsConfigFile(t, dir, "dbtls", good, dsn("meta"))

	code, stdout, stderr := runCLI(t, "init", "--config", cfg, "--partitions", "64",
		"--shard", "shard-1="+dsn("s1"), "--shard", "shard-2="+dsn("s2"))
	if code != exitOK {
		t.Fatalf("init over TLS: exit %d\n%s%s", code, stdout, stderr)
	}
	noPassword(t, "init", stdout, stderr)
	code, stdout, stderr = runCLI(t, "topology", "show", "--config", cfg, "--json")
	if code != exitOK || !strings.Contains(stdout, `"shard-2"`) {
		t.Fatalf("topology show over TLS: exit %d\n%s%s", code, stdout, stderr)
	}
	noPassword(t, "topology show", stdout, stderr)
	code, stdout, stderr = runCLI(t, "keys", "create", "--config", cfg, "--name", "tls", "--scopes", "write,admin", "--json")
	var key struct {
		Secret string `json:"secret"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &key) != nil || key.Secret == "" {
		t.Fatalf("keys create over TLS: exit %d\n%s%s", code, stdout, stderr)
	}

	// The gateway reaches the metadata store and both shards over TLS.
	port, err := mysqlproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var serveErr bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--config", cfg, "--listen", addr}, io.Discard, &serveErr) }()
	waitFor200(t, "http://"+addr+"/readyz", done)
	for i := 0; i < 8; i++ { // SKUs on both shards
		req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/v1/products/TLS-%d", addr, i), strings.NewReader(`{"name":"n","category":"c","scale":0}`))
		req.Header.Set("Authorization", "Bearer "+key.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("PUT over a TLS shard: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	treq, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/topology", nil)
	treq.Header.Set("Authorization", "Bearer "+key.Secret)
	resp, err := http.DefaultClient.Do(treq)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/topology: %v %v", resp, err)
	}
	topo, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	noPassword(t, "GET /v1/topology", string(topo))
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve: exit %d\n%s", code, serveErr.String())
	}
	noPassword(t, "serve's log", serveErr.String())

	// Another CA: the server's certificate is refused, and the error says so.
	other := testcerts.NewCA(t, "some other CA")
	wrong := good
	wrong.CAFile = other.WriteFile(t, dir, "other-ca.pem")
	bad := tlsConfigFile(t, dir, "wrongca", wrong, strings.ReplaceAll(dsn("meta"), "tls=dbtls", "tls=wrongca"))
	code, stdout, stderr = runCLI(t, "topology", "show", "--config", bad)
	t.Logf("wrong CA: %s", stderr)
	if code != exitFailed || !strings.Contains(stderr, "certificate signed by unknown authority") {
		t.Errorf("topology show with the wrong CA: exit %d, want 1 naming the unknown authority\n%s%s", code, stdout, stderr)
	}
	noPassword(t, "the wrong-CA error", stdout, stderr)
	// Without a client certificate the account is refused.
	noCert := tlsConfigFile(t, dir, "nocert", configs.MySQLTLS{CAFile: good.CAFile}, strings.ReplaceAll(dsn("meta"), "tls=dbtls", "tls=nocert"))
	code, stdout, stderr = runCLI(t, "topology", "show", "--config", noCert)
	if code != exitFailed || !strings.Contains(stderr, "Access denied") {
		t.Errorf("topology show without a client certificate: exit %d\n%s%s", code, stdout, stderr)
	}
	noPassword(t, "the access-denied error", stdout, stderr)
}
