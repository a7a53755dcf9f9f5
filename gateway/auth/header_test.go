package auth

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/inventory"
)

func TestParseAuthorization(t *testing.T) {
	const tok = "ssk_abcdefghijkl_" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	for _, tc := range []struct {
		value string
		token string // "" = refused as malformed
	}{
		{"Bearer " + tok, tok},
		{"bearer " + tok, tok}, // the scheme is case-insensitive
		{"BEARER " + tok, tok},
		{"bEaReR " + tok, tok},
		{"Bearer   " + tok, tok},  // 1*SP
		{"Bearer abc==", "abc=="}, // b64token may end in '='
		{"Bearer a-._~+/Z9", "a-._~+/Z9"},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer  ", ""},
		{"Bearer" + tok, ""},        // no space
		{"Bearer\t" + tok, ""},      // a tab is not SP
		{" Bearer " + tok, ""},      // leading space
		{"Bearer " + tok + " ", ""}, // trailing space
		{"Bearer " + tok + " x", ""},
		{"Bearer =abc", ""}, // '=' only at the end
		{"Bearer ab=c", ""}, // '=' only at the end
		{"Bearer ===", ""},  // at least one token character
		{"Bearer a,b", ""},
		{"Bearer \"abc\"", ""}, // no quoted strings
		{"Bearer realm=x", ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"Token " + tok, ""},
		{"Bearerx " + tok, ""},
		{tok, ""},
		{"", ""},
		{"Bearer " + strings.Repeat("a", maxHeaderLen), ""},
		{"Bearer abc\x00", ""},
		{"Bearer abcé", ""},
	} {
		got, err := ParseAuthorization(tc.value)
		if tc.token == "" {
			if err == nil || !errors.Is(err, ErrMalformedHeader) || !inventory.IsCode(err, inventory.CodeUnauthorized) {
				t.Errorf("ParseAuthorization(%q) = %q, %v; want unauthorized ErrMalformedHeader", tc.value, got, err)
			}
			continue
		}
		if err != nil || got != tc.token {
			t.Errorf("ParseAuthorization(%q) = %q, %v; want %q", tc.value, got, err, tc.token)
		}
	}
}

func TestBearerToken(t *testing.T) {
	if _, err := BearerToken(http.Header{}); !errors.Is(err, ErrNoCredentials) || !inventory.IsCode(err, inventory.CodeUnauthorized) {
		t.Errorf("no header: %v, want unauthorized ErrNoCredentials", err)
	}
	h := http.Header{}
	h.Add("Authorization", "Bearer abc")
	if tok, err := BearerToken(h); err != nil || tok != "abc" {
		t.Errorf("one header: %q, %v", tok, err)
	}
	h.Add("Authorization", "Bearer abc")
	if _, err := BearerToken(h); !errors.Is(err, ErrMalformedHeader) {
		t.Errorf("two headers: %v, want ErrMalformedHeader", err)
	}
	if _, err := BearerToken(http.Header{"Authorization": {""}}); !errors.Is(err, ErrMalformedHeader) {
		t.Errorf("empty header: %v, want ErrMalformedHeader", err)
	}
}

func TestChallengeAndRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{unauthorized(ErrNoCredentials), `Bearer realm="shardstock"`},
		{unauthorized(ErrMalformedHeader), `Bearer realm="shardstock", error="invalid_request"`},
		{unauthorized(ErrInvalidKey), `Bearer realm="shardstock", error="invalid_token"`},
		{unauthorized(ErrExpiredKey), `Bearer realm="shardstock", error="invalid_token"`},
		{unauthorized(ErrRevokedKey), `Bearer realm="shardstock", error="invalid_token"`},
		{Principal{}.Require(ScopeAdmin), `Bearer realm="shardstock", error="insufficient_scope", scope="admin"`},
		{rateLimited(3), ""},
		{errors.New("x"), ""},
		{nil, ""},
	} {
		if got := Challenge(tc.err); got != tc.want {
			t.Errorf("Challenge(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	for _, tc := range []struct {
		wait float64
		want string
	}{{0, "1"}, {0.001, "1"}, {1, "1"}, {1.2, "2"}, {59.5, "60"}, {1e12, "86400"}} {
		got, ok := RetryAfter(rateLimited(tc.wait))
		if !ok || got != tc.want {
			t.Errorf("RetryAfter(wait %v) = %q, %v; want %q", tc.wait, got, ok, tc.want)
		}
	}
	if _, ok := RetryAfter(unauthorized(ErrInvalidKey)); ok {
		t.Error("RetryAfter of an unauthorized error")
	}
}

// Every error the package returns is a domain error with a message and non-nil details, so the
// gateway's envelope is complete.
func TestErrorsAreEnvelopeReady(t *testing.T) {
	for _, err := range []error{unauthorized(ErrNoCredentials), unauthorized(ErrMalformedHeader), unauthorized(ErrInvalidKey),
		unauthorized(ErrExpiredKey), unauthorized(ErrRevokedKey), forbidden(ScopeWrite), rateLimited(1)} {
		var de *inventory.Error
		if !errors.As(err, &de) || de.Message == "" || de.Details == nil {
			t.Errorf("%v: not a complete domain error", err)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x==", "Basic a", "Bearer", "Bearer a b", "Bearer \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		tok, err := ParseAuthorization(value)
		if err != nil {
			if !errors.Is(err, ErrMalformedHeader) || !inventory.IsCode(err, inventory.CodeUnauthorized) {
				t.Fatalf("ParseAuthorization(%q) failed with %v, not an unauthorized ErrMalformedHeader", value, err)
			}
			return
		}
		if !isB64Token(tok) || !strings.EqualFold(value[:6], "Bearer") || !strings.HasSuffix(value, tok) ||
			strings.TrimLeft(value[6:], " ") != tok || value[6] != ' ' {
			t.Fatalf("ParseAuthorization(%q) accepted token %q", value, tok)
		}
		if again, err := ParseAuthorization("Bearer " + tok); err != nil || again != tok {
			t.Fatalf("the canonical form of %q does not parse back: %q, %v", value, again, err)
		}
	})
}
