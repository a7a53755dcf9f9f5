package devcluster_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/tools/devcluster"
	"github.com/shardstock/shardstock/tools/testlog"
)

// start starts a cluster and stops it when the test ends.
func start(t *testing.T, opts devcluster.Options) *devcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := devcluster.Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

// exec runs one statement against dsn.
func exec(t *testing.T, dsn, stmt string) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// ports lists meta's port and then each shard's.
func ports(c *devcluster.Cluster) []int {
	out := []int{c.Meta.Port()}
	for _, sh := range c.Shards {
		out = append(out, sh.Server.Port())
	}
	return out
}

func TestStartStopRestartReusesPortsAndData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	var log testlog.Buffer
	opts := devcluster.Options{Dir: dir, Shards: 2, Log: &log}

	first, err := devcluster.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("first Start: %v", err)
	}
	if first.Reused {
		t.Error("first start reported Reused")
	}
	if len(first.Shards) != 2 || first.Shards[0].Name != "shard-1" || first.Shards[1].Name != "shard-2" {
		t.Fatalf("shards = %+v, want shard-1, shard-2", first.Shards)
	}
	firstPorts := ports(first)
	seen := map[int]bool{}
	for _, p := range firstPorts {
		if seen[p] {
			t.Fatalf("port %d used twice: %v", p, firstPorts)
		}
		seen[p] = true
	}
	exec(t, first.Meta.DSN(""), "CREATE DATABASE topology")
	exec(t, first.Shards[1].Server.DSN(""), "CREATE DATABASE inventory")

	// A second run while the first is still up must refuse, naming the port.
	_, err = devcluster.Start(context.Background(), opts)
	if !errors.Is(err, devcluster.ErrPortBusy) || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Start while running: %v, want ErrPortBusy naming the running cluster", err)
	}

	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	second := start(t, opts)
	if !second.Reused {
		t.Error("second start did not report Reused")
	}
	if got := ports(second); !equalInts(got, firstPorts) {
		t.Errorf("ports after restart = %v, want %v", got, firstPorts)
	}
	exec(t, second.Meta.DSN("topology"), "SELECT 1")
	exec(t, second.Shards[1].Server.DSN("inventory"), "SELECT 1")

	for _, want := range []string{"server started", "server=shard-2", "server stopped", "cluster stopped"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestShardCountChangeNeedsFresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	c := start(t, devcluster.Options{Dir: dir, Shards: 1})
	exec(t, c.Meta.DSN(""), "CREATE DATABASE old")
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}

	_, err := devcluster.Start(context.Background(), devcluster.Options{Dir: dir, Shards: 2})
	if !errors.Is(err, devcluster.ErrShardCountChanged) || !strings.Contains(err.Error(), "--fresh") {
		t.Fatalf("Start with other shard count: %v, want ErrShardCountChanged suggesting --fresh", err)
	}

	fresh := start(t, devcluster.Options{Dir: dir, Shards: 2, Fresh: true})
	if fresh.Reused || len(fresh.Shards) != 2 {
		t.Fatalf("fresh cluster: Reused=%v shards=%d", fresh.Reused, len(fresh.Shards))
	}
	db, err := sql.Open("mysql", fresh.Meta.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.QueryRow("SHOW DATABASES LIKE 'old'").Scan(&name); err != sql.ErrNoRows {
		t.Errorf("Fresh kept old data (err=%v)", err)
	}
}

func TestRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts devcluster.Options
	}{
		{"no dir", devcluster.Options{Shards: 1}},
		{"no shards", devcluster.Options{Dir: t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := devcluster.Start(context.Background(), tt.opts); err == nil {
				t.Error("Start succeeded")
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
