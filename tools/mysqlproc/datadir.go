package mysqlproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxSocketPath keeps the Unix socket path under the limit of sun_path
// (108 bytes on Linux, 104 on macOS).
const maxSocketPath = 100

// prepareDataDir makes sure dataDir holds an initialised data directory,
// copying the cached template into it when it is missing or empty.
func prepareDataDir(ctx context.Context, info binaryInfo, dataDir, cacheDir string) error {
	empty, err := dirEmpty(dataDir)
	if err != nil {
		return err
	}
	if !empty {
		return nil
	}
	tmpl, err := templateDir(ctx, info, cacheDir)
	if err != nil {
		return err
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create data dir parent: %w", err)
	}
	work, err := os.MkdirTemp(parent, ".copy-")
	if err != nil {
		return fmt.Errorf("create data dir copy: %w", err)
	}
	defer os.RemoveAll(work)
	staged := filepath.Join(work, "data")
	if err := copyDir(tmpl, staged); err != nil {
		return fmt.Errorf("copy template %s: %w", tmpl, err)
	}
	if err := os.Remove(dataDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace empty data dir: %w", err)
	}
	if err := os.Rename(staged, dataDir); err != nil {
		return fmt.Errorf("move data dir into place: %w", err)
	}
	return nil
}

// dirEmpty reports whether dir is missing or has no entries.
func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("open data dir: %w", err)
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read data dir: %w", err)
	}
	return false, nil
}

// socketPath returns where the server's Unix socket goes: inside the data
// directory when that path is short enough, otherwise in a short temporary
// directory that the caller removes once the server is stopped for good.
func socketPath(dataDir string) (socket, tempDir string, err error) {
	socket = filepath.Join(dataDir, "mysqld.sock")
	if len(socket) < maxSocketPath {
		return socket, "", nil
	}
	base := "/tmp"
	if _, err := os.Stat(base); err != nil {
		base = os.TempDir()
	}
	tempDir, err = os.MkdirTemp(base, "myproc-")
	if err != nil {
		return "", "", fmt.Errorf("create socket dir: %w", err)
	}
	return filepath.Join(tempDir, "mysqld.sock"), tempDir, nil
}
