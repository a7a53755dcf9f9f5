package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/inventory"
)

// statusByCode is the one table that maps domain error codes to HTTP statuses.
var statusByCode = map[inventory.Code]int{
	inventory.CodeInvalidRequest:      http.StatusBadRequest,
	inventory.CodePayloadTooLarge:     http.StatusRequestEntityTooLarge,
	inventory.CodeValidation:          http.StatusUnprocessableEntity,
	inventory.CodeNotFound:            http.StatusNotFound,
	inventory.CodeInsufficientStock:   http.StatusConflict,
	inventory.CodeVersionConflict:     http.StatusConflict,
	inventory.CodeInvalidState:        http.StatusConflict,
	inventory.CodeIdempotencyConflict: http.StatusUnprocessableEntity,
	inventory.CodeShardUnavailable:    http.StatusServiceUnavailable,
	// A partition that kept moving for longer than the retry budget: the client may retry.
	inventory.CodePartitionMoved: http.StatusServiceUnavailable,
	inventory.CodeUnauthorized:   http.StatusUnauthorized,    // + WWW-Authenticate
	inventory.CodeForbidden:      http.StatusForbidden,       // + WWW-Authenticate (insufficient_scope)
	inventory.CodeRateLimited:    http.StatusTooManyRequests, // + Retry-After
	// The metadata store did not answer (topology, webhooks, event positions): fail fast, retry.
	inventory.CodeMetaUnavailable: http.StatusServiceUnavailable,
}

// errorBody is the contract's error envelope.
type errorBody struct {
	Error errorPayload `json:"error"`
}

type errorPayload struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// errorResponse turns any error into the status and envelope the contract prescribes.
// Errors that are not domain errors are 500 "internal" with a generic message; they are logged.
func errorResponse(log *slog.Logger, err error) (int, errorBody, http.Header) {
	var de *inventory.Error
	if errors.As(err, &de) {
		code := de.Code
		details := de.Details
		if code == inventory.CodePartitionMoved {
			// Shard internals never leak: a moving partition looks like an unavailable shard.
			code, details = inventory.CodeShardUnavailable, map[string]any{"shards": []string{}, "reason": "partition is being moved"}
		}
		status, ok := statusByCode[code]
		if ok {
			if details == nil {
				details = map[string]any{}
			}
			return status, errorBody{errorPayload{string(code), de.Message, details}}, errorHeaders(status, err)
		}
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads this answer, and it is no server fault.
		return http.StatusServiceUnavailable, errorBody{errorPayload{string(inventory.CodeShardUnavailable),
			"the request was cancelled", map[string]any{"shards": []string{}}}}, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, errorBody{errorPayload{string(inventory.CodeShardUnavailable),
				"the request timed out waiting for a shard", map[string]any{"shards": []string{}}}},
			http.Header{"Retry-After": []string{"1"}}
	}
	log.Error("internal error", "err", err)
	return http.StatusInternalServerError, errorBody{errorPayload{"internal", "internal error", map[string]any{}}}, nil
}

// errorHeaders are the headers that go with an error answer: Retry-After on every 503 and on a
// 429 (the key's own wait), WWW-Authenticate on a 401 or 403 (RFC 6750).
func errorHeaders(status int, err error) http.Header {
	switch status {
	case http.StatusServiceUnavailable:
		return http.Header{"Retry-After": []string{strconv.Itoa(1)}}
	case http.StatusTooManyRequests:
		if v, ok := auth.RetryAfter(err); ok {
			return http.Header{"Retry-After": []string{v}}
		}
	case http.StatusUnauthorized, http.StatusForbidden:
		if v := auth.Challenge(err); v != "" {
			return http.Header{"Www-Authenticate": []string{v}}
		}
	}
	return nil
}
