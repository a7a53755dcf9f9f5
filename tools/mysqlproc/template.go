package mysqlproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// templateMu keeps goroutines of one process from initialising the same
// template twice; separate processes are kept apart by the atomic rename.
var templateMu sync.Mutex

// templateDir returns the path of the initialised template data directory for
// the binary, creating it when it does not exist yet.
//
// The template is initialised in a temporary sibling directory and renamed
// into place, so a concurrent process either sees a complete template or none
// at all; when two processes race, the loser discards its copy.
func templateDir(ctx context.Context, info binaryInfo, cacheDir string) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()

	dir := filepath.Join(cacheDir, "mysql-template-"+info.key())
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create template cache dir: %w", err)
	}
	work, err := os.MkdirTemp(cacheDir, ".init-")
	if err != nil {
		return "", fmt.Errorf("create template work dir: %w", err)
	}
	defer os.RemoveAll(work)

	data := filepath.Join(work, "data")
	if err := initDataDir(ctx, info, data, filepath.Join(work, "init.log")); err != nil {
		return "", err
	}
	if err := os.Rename(data, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("move template into place: %w", err)
	}
	return dir, nil
}

// initDataDir initialises an empty data directory with a passwordless root
// account reachable over TCP.
func initDataDir(ctx context.Context, info binaryInfo, dataDir, logPath string) error {
	if err := os.MkdirAll(privateTmpDir(dataDir), 0o755); err != nil {
		return fmt.Errorf("create tmp dir: %w", err)
	}
	var cmd *exec.Cmd
	switch info.flavor {
	case flavorMariaDB:
		installDB, err := findInstallDB(info.path)
		if err != nil {
			return err
		}
		args := []string{
			"--no-defaults",
			"--datadir=" + dataDir,
			"--tmpdir=" + privateTmpDir(dataDir),
			"--auth-root-authentication-method=normal",
			"--skip-test-db",
			"--skip-name-resolve",
		}
		args = append(args, userFlags()...)
		args = append(args, innodbFlags...)
		cmd = exec.CommandContext(ctx, installDB, args...)
	default:
		if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
			return fmt.Errorf("create data dir parent: %w", err)
		}
		args := []string{
			"--no-defaults",
			"--initialize-insecure",
			"--datadir=" + dataDir,
			"--tmpdir=" + privateTmpDir(dataDir),
			"--log-error=" + logPath,
		}
		args = append(args, userFlags()...)
		args = append(args, innodbFlags...)
		cmd = exec.CommandContext(ctx, info.path, args...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		logText, _ := os.ReadFile(logPath)
		return fmt.Errorf("initialise data dir with %s: %w\n%s%s",
			cmd.Path, err, tail(string(out), 2000), tail(string(logText), 2000))
	}
	return nil
}

// tail returns at most n trailing bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// defaultCacheDir returns the directory that holds templates when Options
// does not name one.
func defaultCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "shardstock")
}
