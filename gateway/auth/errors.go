package auth

import (
	"errors"
	"math"
	"strconv"

	"github.com/shardstock/shardstock/inventory"
)

// Causes of an unauthorized error, for errors.Is (the client sees only the code and message).
var (
	// ErrNoCredentials: the request has no Authorization header.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrMalformedHeader: the Authorization header is not "Bearer <token>" (RFC 6750), or there
	// is more than one.
	ErrMalformedHeader = errors.New("auth: malformed Authorization header")
	// ErrInvalidKey: the token is not a key, or names no key, or the secret does not match.
	ErrInvalidKey = errors.New("auth: invalid API key")
	// ErrExpiredKey: the key is right but has expired.
	ErrExpiredKey = errors.New("auth: API key expired")
	// ErrRevokedKey: the key is right but has been revoked.
	ErrRevokedKey = errors.New("auth: API key revoked")
)

// Realm is the realm of the WWW-Authenticate challenge.
const Realm = "shardstock"

var unauthorizedMessages = map[error]string{
	ErrNoCredentials:   "an API key is required: send Authorization: Bearer <key>",
	ErrMalformedHeader: "the Authorization header must be exactly one \"Bearer <key>\"",
	ErrInvalidKey:      "the API key is not valid",
	ErrExpiredKey:      "the API key has expired",
	ErrRevokedKey:      "the API key has been revoked",
}

// unauthorized is the unauthorized (401) error for one of the causes above.
func unauthorized(cause error) *inventory.Error {
	return &inventory.Error{Code: inventory.CodeUnauthorized, Message: unauthorizedMessages[cause],
		Details: map[string]any{}, Err: cause}
}

// forbidden is the forbidden (403) error for a key without the scope a route needs.
func forbidden(need Scope) *inventory.Error {
	return inventory.Errorf(inventory.CodeForbidden, "the API key lacks the %s scope this endpoint needs", need).
		WithDetails(map[string]any{"required_scope": string(need)})
}

// maxRetryAfter bounds the advertised wait of a rate-limited request (a key with a rate near
// zero would otherwise ask for years).
const maxRetryAfter = 86400

// rateLimited is the rate_limited (429) error; details.retry_after_seconds is the whole number of
// seconds after which one request will be allowed (at least 1).
func rateLimited(wait float64) *inventory.Error {
	secs := maxRetryAfter
	if wait < maxRetryAfter {
		secs = max(1, int(math.Ceil(wait)))
	}
	return inventory.Errorf(inventory.CodeRateLimited, "the API key's rate limit is exceeded; retry after %d s", secs).
		WithDetails(map[string]any{"retry_after_seconds": secs})
}

// Challenge returns the WWW-Authenticate header value (RFC 6750 section 3) that goes with err,
// or "" when err is neither unauthorized nor forbidden. A request without credentials gets a
// bare challenge; a bad header invalid_request; a bad, expired or revoked key invalid_token; a
// missing scope insufficient_scope with the scope.
func Challenge(err error) string {
	var de *inventory.Error
	if !errors.As(err, &de) {
		return ""
	}
	switch de.Code {
	case inventory.CodeUnauthorized:
		switch {
		case errors.Is(err, ErrNoCredentials):
			return `Bearer realm="` + Realm + `"`
		case errors.Is(err, ErrMalformedHeader):
			return `Bearer realm="` + Realm + `", error="invalid_request"`
		default:
			return `Bearer realm="` + Realm + `", error="invalid_token"`
		}
	case inventory.CodeForbidden:
		scope, _ := de.Details["required_scope"].(string)
		return `Bearer realm="` + Realm + `", error="insufficient_scope", scope="` + scope + `"`
	}
	return ""
}

// RetryAfter returns the Retry-After header value of a rate_limited error.
func RetryAfter(err error) (string, bool) {
	var de *inventory.Error
	if !errors.As(err, &de) || de.Code != inventory.CodeRateLimited {
		return "", false
	}
	secs, ok := de.Details["retry_after_seconds"].(int)
	if !ok {
		return "", false
	}
	return strconv.Itoa(secs), true
}
