package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Code is a domain error code. Its string value is the contract's error code; the HTTP layer
// maps each code to a status in one table.
type Code string

// Domain error codes, as listed in CONTRACT.md's error table.
const (
	CodeInvalidRequest      Code = "invalid_request"
	CodeValidation          Code = "validation_failed"
	CodeNotFound            Code = "not_found"
	CodeInsufficientStock   Code = "insufficient_stock"
	CodeVersionConflict     Code = "version_conflict"
	CodeInvalidState        Code = "invalid_state"
	CodeIdempotencyConflict Code = "idempotency_conflict"
	CodeShardUnavailable    Code = "shard_unavailable"
	CodePayloadTooLarge     Code = "payload_too_large"
	// CodeConflict is a uniqueness violation (MySQL 1062) that the caller did not expect.
	CodeConflict Code = "conflict"
	// CodePartitionMoved means this shard does not own the partition (fence not `owned`).
	// It never reaches a client: the gateway refreshes its topology and retries.
	CodePartitionMoved Code = "partition_moved"
	// CodeAlreadyApplied means an idempotent request was applied before (found its marker).
	CodeAlreadyApplied Code = "already_applied"
	CodeInternal       Code = "internal"
	// CodeUnauthorized (401): no API key, or an unknown, malformed, expired or revoked one.
	CodeUnauthorized Code = "unauthorized"
	// CodeForbidden (403): the API key lacks the scope the endpoint needs.
	CodeForbidden Code = "forbidden"
	// CodeRateLimited (429): the API key's rate limit; details.retry_after_seconds.
	CodeRateLimited Code = "rate_limited"
	// CodeMetaUnavailable (503): the metadata store cannot be reached (topology, webhook and key
	// operations).
	CodeMetaUnavailable Code = "meta_unavailable"
)

// Error is a domain error: a code, a human message and optional structured details. Err, when
// set, is the underlying cause; it is kept for logs and errors.Is/As but never shown to clients.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
	Err     error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns e with the details set.
func (e *Error) WithDetails(d map[string]any) *Error {
	e.Details = d
	return e
}

// Wrap returns e with its cause set.
func (e *Error) Wrap(cause error) *Error {
	e.Err = cause
	return e
}

// Validation is a validation_failed error naming the offending field in details.field.
func Validation(field, format string, args ...any) *Error {
	return Errorf(CodeValidation, format, args...).WithDetails(map[string]any{"field": field})
}

// InvalidRequest is an invalid_request error (malformed request).
func InvalidRequest(format string, args ...any) *Error {
	return Errorf(CodeInvalidRequest, format, args...)
}

// ErrorCode returns the domain code of err, or CodeInternal when err is not a domain error.
func ErrorCode(err error) Code {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return CodeInternal
}

// IsCode reports whether err is a domain error with the given code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }

// ShortLine describes one line that could not be served, for insufficient_stock details.
type ShortLine struct {
	SKU       string      `json:"sku"`
	Requested json.Number `json:"requested"`
	Available json.Number `json:"available"`
}

// NewShortLine builds a ShortLine from base units of a product with the given scale; a negative
// availability is shown as zero.
func NewShortLine(sku string, requested, available int64, scale int) ShortLine {
	available = max(available, 0)
	return ShortLine{SKU: sku, Requested: json.Number(FormatUnits(requested, scale)),
		Available: json.Number(FormatUnits(available, scale))}
}

// Insufficient returns the insufficient_stock error for the given short lines.
func Insufficient(lines ...ShortLine) *Error {
	return Errorf(CodeInsufficientStock, "not enough stock available").
		WithDetails(map[string]any{"lines": lines})
}

// ShortLines returns the short lines of an insufficient_stock error (nil for other errors).
func ShortLines(err error) []ShortLine {
	var de *Error
	if errors.As(err, &de) && de.Code == CodeInsufficientStock {
		if l, ok := de.Details["lines"].([]ShortLine); ok {
			return l
		}
	}
	return nil
}
