package auth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var keyFormat = regexp.MustCompile(`^ssk_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$`)

func TestGenerateMakesDistinctKeysInTheFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		g, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !keyFormat.MatchString(g.Token) || len(g.Token) != 60 {
			t.Fatalf("token %q is not in the key format", g.Token)
		}
		if seen[g.ID] || seen[g.Token] {
			t.Fatalf("repeated id or token: %s", g.Token)
		}
		seen[g.ID], seen[g.Token] = true, true
		id, secret, err := ParseToken(g.Token)
		if err != nil || id != g.ID || len(secret) != 32 || sha256.Sum256(secret) != g.Hash {
			t.Fatalf("ParseToken(%q) = %q, %x, %v; want the generated id and a secret hashing to Hash", g.Token, id, secret, err)
		}
		if !isB64Token(g.Token) {
			t.Fatalf("token %q is not an RFC 6750 b64token", g.Token)
		}
	}
}

func TestParseTokenRefusesAnythingElse(t *testing.T) {
	g, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	tok := g.Token
	for name, bad := range map[string]string{
		"empty":             "",
		"prefix only":       "ssk_",
		"other prefix":      "sk_" + tok[3:] + "x",
		"upper-case prefix": "SSK_" + tok[4:],
		"short":             tok[:len(tok)-1],
		"long":              tok + "A",
		"upper-case id":     "ssk_" + strings.ToUpper(tok[4:16]) + tok[16:],
		"id with 1":         "ssk_1" + tok[5:],
		"no separator":      tok[:16] + "-" + tok[17:],
		"padding":           tok[:len(tok)-1] + "=",
		"std base64 char":   tok[:20] + "+" + tok[21:],
		"space":             tok[:20] + " " + tok[21:],
	} {
		if _, _, err := ParseToken(bad); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("%s: ParseToken(%q) = %v, want ErrMalformedKey", name, bad, err)
		}
	}
}

const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// A last character with non-zero padding bits is refused (one spelling per key).
func TestParseTokenIsCanonical(t *testing.T) {
	g, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	last := strings.IndexByte(secretAlphabet, g.Token[len(g.Token)-1])
	if last%4 != 0 {
		t.Fatalf("generated token ends in %q: padding bits set", g.Token[len(g.Token)-1])
	}
	alt := g.Token[:len(g.Token)-1] + string(secretAlphabet[last+1])
	if _, _, err := ParseToken(alt); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("ParseToken(%q) = %v, want ErrMalformedKey for non-zero padding bits", alt, err)
	}
}

func FuzzParseToken(f *testing.F) {
	g, _ := Generate()
	f.Add(g.Token)
	f.Add("ssk_aaaaaaaaaaaa_" + strings.Repeat("A", 43))
	f.Add("ssk_")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := ParseToken(s)
		if err != nil {
			return
		}
		if !keyFormat.MatchString(s) || !ValidKeyID(id) || len(secret) != 32 {
			t.Fatalf("accepted %q as id %q secret %x", s, id, secret)
		}
		if again := KeyPrefix + id + "_" + secretEncoding.EncodeToString(secret); again != s {
			t.Fatalf("accepted a non-canonical spelling %q of %q", s, again)
		}
		if !bytes.Equal(secret, mustDecode(t, s[17:])) {
			t.Fatal("secret is not the decoded tail")
		}
	})
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := secretEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example in the package comment and docs/SECURITY.md is a real key.
func TestDocumentedExampleIsAKey(t *testing.T) {
	const example = "ssk_kwkikmg3qhdb_trhqb8xFHW1EQJg8cXruptBzyNauP_7PA_QyoIzyWoU"
	if id, _, err := ParseToken(example); err != nil || id != "kwkikmg3qhdb" {
		t.Errorf("ParseToken(example) = %q, %v", id, err)
	}
}
