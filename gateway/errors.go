package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/shardstock/shardstock/shard"
)

// statusByCode is the one table that maps domain error codes to HTTP statuses.
var statusByCode = map[shard.Code]int{
	shard.CodeInvalidRequest:      http.StatusBadRequest,
	shard.CodePayloadTooLarge:     http.StatusRequestEntityTooLarge,
	shard.CodeValidation:          http.StatusUnprocessableEntity,
	shard.CodeNotFound:            http.StatusNotFound,
	shard.CodeInsufficientStock:   http.StatusConflict,
	shard.CodeVersionConflict:     http.StatusConflict,
	shard.CodeInvalidState:        http.StatusConflict,
	shard.CodeIdempotencyConflict: http.StatusUnprocessableEntity,
	shard.CodeShardUnavailable:    http.StatusServiceUnavailable,
	// A partition that kept moving for longer than the retry budget: the client may retry.
	shard.CodePartitionMoved: http.StatusServiceUnavailable,
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
	var de *shard.Error
	if errors.As(err, &de) {
		code := de.Code
		details := de.Details
		if code == shard.CodePartitionMoved {
			// Shard internals never leak: a moving partition looks like an unavailable shard.
			code, details = shard.CodeShardUnavailable, map[string]any{"shards": []string{}, "reason": "partition is being moved"}
		}
		status, ok := statusByCode[code]
		if ok {
			if details == nil {
				details = map[string]any{}
			}
			var h http.Header
			if status == http.StatusServiceUnavailable {
				h = http.Header{"Retry-After": []string{strconv.Itoa(1)}}
			}
			return status, errorBody{errorPayload{string(code), de.Message, details}}, h
		}
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads this answer, and it is no server fault.
		return http.StatusServiceUnavailable, errorBody{errorPayload{string(shard.CodeShardUnavailable),
			"the request was cancelled", map[string]any{"shards": []string{}}}}, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, errorBody{errorPayload{string(shard.CodeShardUnavailable),
				"the request timed out waiting for a shard", map[string]any{"shards": []string{}}}},
			http.Header{"Retry-After": []string{"1"}}
	}
	log.Error("internal error", "err", err)
	return http.StatusInternalServerError, errorBody{errorPayload{"internal", "internal error", map[string]any{}}}, nil
}

func invalidRequest(format string, args ...any) error {
	return shard.Errorf(shard.CodeInvalidRequest, format, args...)
}

func validationFailed(field, format string, args ...any) error {
	return shard.Errorf(shard.CodeValidation, format, args...).WithDetails(map[string]any{"field": field})
}
