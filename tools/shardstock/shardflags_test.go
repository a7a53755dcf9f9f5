package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A --shard (or --add) DSN may come from a file or an environment variable, so that no password
// is on the command line; errors about a flag never show the password.
func TestShardFlagDSNFromFileOrEnvironment(t *testing.T) {
	const dsn = "app:Flag-Secret-1@tcp(127.0.0.1:3306)/shardstock"
	file := filepath.Join(t.TempDir(), "shard-2.dsn")
	if err := os.WriteFile(file, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHARDSTOCK_TEST_SHARD_DSN", dsn)
	specs, err := parseShardFlags([]string{"shard-1=" + dsn, "shard-2=file:" + file, "shard-3=env:SHARDSTOCK_TEST_SHARD_DSN"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.DSN != dsn {
			t.Errorf("%s: DSN %q, want %q", s.Name, s.DSN, dsn)
		}
	}
	for _, tc := range []struct {
		flags []string
		usage bool
		want  string
	}{
		{[]string{"s1=file:" + filepath.Join(t.TempDir(), "missing")}, false, "no such file"},
		{[]string{"s1=env:SHARDSTOCK_TEST_NOT_SET"}, true, "empty DSN"},
		{[]string{"bad name=" + dsn}, true, "bad name=app:****@tcp"},
		{[]string{"s1=" + dsn, "s1=" + dsn}, true, "given twice"},
		{[]string{"=" + dsn}, true, "want NAME=DSN"},
	} {
		_, err := parseShardFlags(tc.flags)
		var ue *usageError
		if err == nil || errors.As(err, &ue) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a (usage: %v) error mentioning %q", tc.flags, err, tc.usage, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "Flag-Secret-1") {
			t.Errorf("%v: the error shows the password: %v", tc.flags, err)
		}
	}
}
