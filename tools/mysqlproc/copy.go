package mysqlproc

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// copyChunk is the unit in which files are copied; chunks of zeros are
// skipped so the preallocated redo log stays sparse and cheap to copy.
const copyChunk = 1 << 20

// copyDir copies the tree at src into dst, which must not exist yet.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			return copyFile(path, target, info)
		default:
			return nil // sockets, pid files' leftovers and the like are not needed
		}
	})
}

// copyFile copies one regular file, leaving holes where the source has
// chunks of zeros.
func copyFile(src, dst string, info fs.FileInfo) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()

	buf := make([]byte, copyChunk)
	zero := make([]byte, copyChunk)
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			if bytes.Equal(buf[:n], zero[:n]) {
				if _, err := out.Seek(int64(n), io.SeekCurrent); err != nil {
					return fmt.Errorf("seek %s: %w", dst, err)
				}
			} else if _, err := out.Write(buf[:n]); err != nil {
				return fmt.Errorf("write %s: %w", dst, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", src, rerr)
		}
	}
	if err := out.Truncate(info.Size()); err != nil {
		return fmt.Errorf("size %s: %w", dst, err)
	}
	return nil
}
