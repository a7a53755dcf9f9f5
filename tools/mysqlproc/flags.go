package mysqlproc

import (
	"os"
	"path/filepath"
	"strconv"
)

// templateFormat changes whenever the init flags below change, so that old
// cached templates are not reused.
const templateFormat = "v1"

// innodbFlags size InnoDB small; they are used both when initialising a
// template and when running a server so the redo log never needs resizing.
var innodbFlags = []string{
	"--innodb-buffer-pool-size=64M",
	"--innodb-log-file-size=48M",
}

// userFlags returns --user=root when running as root, which both servers
// require before they agree to run as root.
func userFlags() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// serverArgs returns the command line for running a server on an initialised
// data directory.
func serverArgs(f flavor, dataDir, socket, pidFile, logPath string, port int) []string {
	args := []string{
		"--no-defaults",
		"--datadir=" + dataDir,
		"--tmpdir=" + privateTmpDir(dataDir),
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--socket=" + socket,
		"--pid-file=" + pidFile,
		"--log-error=" + logPath,
		"--skip-name-resolve",
		"--skip-log-bin",
		"--sync-binlog=0",
		"--innodb-flush-log-at-trx-commit=2",
		"--performance-schema=OFF",
		"--max-connections=500",
		"--character-set-server=utf8mb4",
	}
	args = append(args, innodbFlags...)
	args = append(args, userFlags()...)
	if f == flavorMySQL {
		// MySQL 8 also opens an X Protocol port (33060 by default), which
		// would clash between servers.
		args = append(args, "--mysqlx=OFF")
	}
	return args
}

// privateTmpDir is the temporary directory of the server (or installer) on dataDir: a sibling
// of the data directory, so no two servers share one. A server deletes every "#sql" file it
// finds in its tmpdir at start-up, which breaks a bootstrap running in parallel in a shared
// /tmp ("Could not remove temporary table", then "Unknown table mysql.tmp_user_nopasswd").
func privateTmpDir(dataDir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(dataDir)), filepath.Base(dataDir)+".tmp")
}
