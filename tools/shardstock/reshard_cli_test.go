package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/tools/testdb"
)

// The operator's path end to end through the CLI: init, plan, start, status, verify, cleanup.
func TestReshardAndVerifyCLI(t *testing.T) {
	cfg, shardFlags := newCluster(t, 2)
	if code, _, stderr := runCLI(t, append([]string{"init", "--config", cfg, "--partitions", "64"}, shardFlags...)...); code != exitOK {
		t.Fatalf("init: %d %s", code, stderr)
	}
	newDSN := testdb.Server(t).NewDatabase(t, "shard3")
	code, stdout, stderr := runCLI(t, "reshard", "plan", "--config", cfg, "--add", "shard-3="+newDSN, "--json")
	if code != exitOK {
		t.Fatalf("plan: %d %s", code, stderr)
	}
	var plan struct {
		Moves []struct{ Partition int } `json:"moves"`
	}
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil || len(plan.Moves) < 20 || len(plan.Moves) > 22 {
		t.Fatalf("plan moves %d (want ~64/3): %v\n%s", len(plan.Moves), err, stdout)
	}
	code, stdout, stderr = runCLI(t, "reshard", "start", "--config", cfg, "--add", "shard-3="+newDSN, "--parallel", "2", "--max-rows-per-sec", "100000")
	if code != exitOK || !strings.Contains(stdout, "done") {
		t.Fatalf("start: %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "partitions cut over") {
		t.Errorf("no progress lines on a non-terminal:\n%s", stderr)
	}
	code, stdout, _ = runCLI(t, "reshard", "status", "--config", cfg, "--json")
	if code != exitOK || !strings.Contains(stdout, `"state": "done"`) {
		t.Errorf("status: %d %s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "topology", "show", "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "shard-3") || !strings.Contains(stdout, "version: 2") && !strings.Contains(stdout, "version") {
		t.Errorf("topology show: %s", stdout)
	}
	if code, stdout, stderr = runCLI(t, "verify", "--config", cfg, "--quiescent"); code != exitOK || !strings.Contains(stdout, "clean") {
		t.Errorf("verify: %d %s %s", code, stdout, stderr)
	}
	if code, stdout, _ = runCLI(t, "reshard", "cleanup", "--config", cfg); code != exitOK {
		t.Errorf("cleanup: %d %s", code, stdout)
	}
	// Usage errors and refusals.
	if code, _, _ = runCLI(t, "reshard", "plan", "--config", cfg); code != exitUsage {
		t.Errorf("plan without --add/--remove: exit %d, want 2", code)
	}
	if code, _, _ = runCLI(t, "reshard", "plan", "--config", cfg, "--remove", "nope"); code != exitFailed {
		t.Errorf("plan removing an unknown shard: exit %d, want 1", code)
	}
	if code, _, _ = runCLI(t, "reshard", "abort", "--config", cfg); code != exitFailed {
		t.Errorf("abort of a finished job: exit %d, want 1", code)
	}
}
