package mysqlproc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ErrNoBinary is returned (wrapped) by FindBinary when neither mariadbd nor
// mysqld can be found.
var ErrNoBinary = errors.New("no MariaDB or MySQL server binary found")

// installHelp tells a developer how to get a server binary.
const installHelp = `install one:
    Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y mariadb-server
    macOS:         brew install mariadb
  or use docker compose up (see README) and point tests at it with
    SHARDSTOCK_TEST_MYSQL='root@tcp(127.0.0.1:3306)/'`

// binaryNames are the server binaries FindBinary looks for, in order.
var binaryNames = []string{"mariadbd", "mysqld"}

// extraBinaryDirs are searched after PATH, because sbin directories are often
// missing from a non-root user's PATH.
var extraBinaryDirs = []string{"/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin", "/usr/local/bin"}

// FindBinary returns the path of a MariaDB or MySQL server binary: mariadbd
// first, then mysqld, on PATH and then in the usual sbin directories.
func FindBinary() (string, error) {
	for _, name := range binaryNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	for _, name := range binaryNames {
		for _, dir := range extraBinaryDirs {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w (looked for %s on PATH and in %s); %s",
		ErrNoBinary, strings.Join(binaryNames, ", "), strings.Join(extraBinaryDirs, ", "), installHelp)
}

// flavor is the server family, which decides how a data directory is
// initialised and which flags the server accepts.
type flavor int

const (
	flavorMariaDB flavor = iota
	flavorMySQL
)

// binaryInfo describes one server binary.
type binaryInfo struct {
	path    string
	version string // first line of --version
	flavor  flavor
}

// key identifies the binary and the way templates are initialised, so a new
// server version or a change to the init flags gets a fresh template.
func (b binaryInfo) key() string {
	sum := sha256.Sum256([]byte(b.path + "\x00" + b.version + "\x00" + templateFormat))
	return hex.EncodeToString(sum[:])[:16]
}

var (
	binaryInfoMu    sync.Mutex
	binaryInfoCache = map[string]binaryInfo{}
)

// inspectBinary runs the binary with --version once per process and caches
// what it learns.
func inspectBinary(ctx context.Context, path string) (binaryInfo, error) {
	binaryInfoMu.Lock()
	defer binaryInfoMu.Unlock()
	if info, ok := binaryInfoCache[path]; ok {
		return info, nil
	}
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return binaryInfo{}, fmt.Errorf("run %s --version: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	version := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	info := binaryInfo{path: path, version: version, flavor: flavorMySQL}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		info.flavor = flavorMariaDB
	}
	binaryInfoCache[path] = info
	return info, nil
}

// findInstallDB locates mariadb-install-db (or the older mysql_install_db)
// on PATH or next to the server binary.
func findInstallDB(serverPath string) (string, error) {
	names := []string{"mariadb-install-db", "mysql_install_db"}
	serverDir := filepath.Dir(serverPath)
	dirs := []string{serverDir, filepath.Join(serverDir, "..", "bin"), filepath.Join(serverDir, "..", "scripts")}
	for _, name := range names {
		for _, dir := range dirs {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: found %s but not mariadb-install-db next to it or on PATH; %s",
		ErrNoBinary, serverPath, installHelp)
}
