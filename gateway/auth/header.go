package auth

import (
	"net/http"
	"strings"
)

// maxHeaderLen bounds the Authorization value looked at; a key is 60 characters.
const maxHeaderLen = 1024

// BearerToken returns the bearer token of h's Authorization header. No header is
// ErrNoCredentials; more than one, or one that ParseAuthorization refuses, is ErrMalformedHeader.
// Errors are unauthorized *inventory.Error values.
func BearerToken(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", unauthorized(ErrNoCredentials)
	case 1:
		return ParseAuthorization(values[0])
	default:
		return "", unauthorized(ErrMalformedHeader)
	}
}

// ParseAuthorization parses one Authorization header value as RFC 6750 section 2.1 credentials:
// the scheme "Bearer" (case-insensitive, RFC 9110 section 11.1), one or more spaces, and a
// b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Nothing else is
// accepted: no other scheme, no tabs, no leading or trailing whitespace, no parameters.
func ParseAuthorization(value string) (string, error) {
	const scheme = "Bearer"
	if len(value) > maxHeaderLen || len(value) < len(scheme)+2 || !strings.EqualFold(value[:len(scheme)], scheme) ||
		value[len(scheme)] != ' ' {
		return "", unauthorized(ErrMalformedHeader)
	}
	token := strings.TrimLeft(value[len(scheme):], " ")
	if !isB64Token(token) {
		return "", unauthorized(ErrMalformedHeader)
	}
	return token, nil
}

// isB64Token reports whether s matches RFC 6750's b64token.
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
