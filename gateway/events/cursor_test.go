package events

import (
	"encoding/base64"
	"testing"
)

// Any cursor text decodes to positions or an error, never a nil map or a panic.
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{"", "null", "{}", `{"shard-1":3}`, "[]", `{"a":-1}`, "x"} {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(s)))
	}
	f.Add("bnVsbA")
	f.Fuzz(func(t *testing.T, c string) {
		pos, err := DecodeCursor(c)
		if err == nil && pos == nil {
			t.Fatalf("cursor %q decoded to a nil map", c)
		}
		if err == nil {
			pos["probe"] = 1 // must be writable
		}
	})
}
