package migrate_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

// specPassword is the password of the account the added shard is reached with; the job's spec
// in the metadata store must never hold it (nor the DSN at all).
const specPassword = "Job-Spec-Secret-91"

// withPassword returns dsn for a new account moverN with specPassword, allowed everything on
// the server.
func withPassword(t *testing.T, dsn, user string) string {
	t.Helper()
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t, dsn)
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS '" + user + "'@'%' IDENTIFIED BY '" + specPassword + "'",
		"GRANT ALL ON *.* TO '" + user + "'@'%'",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg.User, cfg.Passwd = user, specPassword
	return cfg.FormatDSN()
}

// specJSON reads a job's stored spec.
func specJSON(t *testing.T, c *clustertest.Cluster, id int64) string {
	t.Helper()
	var spec string
	if err := openDB(t, c.MetaDSN).QueryRow("SELECT spec_json FROM reshard_jobs WHERE id = ?", id).Scan(&spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

// A job's persisted spec names the shards it adds but holds no DSN: the DSN goes to the shard
// registry when the job is created. A spec written by an earlier version (with DSNs) is moved
// there when the job is resumed, and the job completes.
func TestJobSpecHoldsNoDSN(t *testing.T) {
	ctx := context.Background()
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	dsn := withPassword(t, testdb.Server(t).NewDatabase(t, "shard3"), "mover_spec")
	r := newResharder(t, c, migrate.ReshardOptions{Parallel: 2})
	job, err := r.Create(ctx, []migrate.ShardSpec{{Name: "shard-3", DSN: dsn}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := specJSON(t, c, job.ID)
	if strings.Contains(spec, specPassword) || strings.Contains(spec, "tcp(") || !strings.Contains(spec, `"shard-3"`) {
		t.Errorf("spec of a new job: %s", spec)
	}
	if info, ok := c.Topology(t).Shards["shard-3"]; !ok || info.DSN != dsn || info.State != inventory.ShardActive {
		t.Errorf("shard-3 in the registry: %+v %v", info, ok)
	}

	// The same job as an earlier version stored it: the DSN in the spec, the shard unregistered.
	var legacy map[string]any
	if err := json.Unmarshal([]byte(spec), &legacy); err != nil {
		t.Fatal(err)
	}
	legacy["add"] = []map[string]string{{"Name": "shard-3", "DSN": dsn}}
	raw, _ := json.Marshal(legacy)
	meta := openDB(t, c.MetaDSN)
	if _, err := meta.Exec("UPDATE reshard_jobs SET spec_json = ? WHERE id = ?", string(raw), job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Exec("DELETE FROM shards WHERE name = 'shard-3'"); err != nil {
		t.Fatal(err)
	}
	job, err = r.Run(ctx, job.ID)
	if err != nil || job.State != inventory.JobDone {
		t.Fatalf("resume of a legacy job: %v (state %s)", err, job.State)
	}
	if spec := specJSON(t, c, job.ID); strings.Contains(spec, specPassword) || strings.Contains(spec, "tcp(") {
		t.Errorf("spec after resuming a legacy job: %s", spec)
	}
	if s := job.Summary(); len(s.Add) != 1 || s.Add[0] != "shard-3" {
		t.Errorf("summary adds %v", s.Add)
	}
	top := c.Topology(t)
	if info := top.Shards["shard-3"]; info.DSN != dsn || top.Map.Counts()["shard-3"] == 0 {
		t.Errorf("shard-3 after the job: %+v, %d partitions", info, top.Map.Counts()["shard-3"])
	}
	c.RequireInvariants(t, true)
}
