package mysqlproc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyDirKeepsContentAndHoles(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("hello")},
		{"zeros-then-data", append(make([]byte, 3*copyChunk), []byte("tail")...)},
		{"data-then-zeros", append([]byte("head"), make([]byte, 2*copyChunk+7)...)},
	}
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if err := os.WriteFile(filepath.Join(src, "sub", tt.name), tt.data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyDir(src, dst); err != nil {
		t.Fatalf("copyDir: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dst, "sub", tt.name)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("content differs: got %d bytes, want %d", len(got), len(tt.data))
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want 0640", st.Mode().Perm())
			}
		})
	}
}
