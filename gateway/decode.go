package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/shardstock/shardstock/inventory"
)

// readBody reads at most limit bytes of the request body (413 payload_too_large beyond) before
// the request's deadline: a body that has not fully arrived by then (a client sending one byte
// a second) is 400 invalid_request, and the connection is closed after the answer. The header
// timeout is the server's (ReadHeaderTimeout).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	deadline, bounded := r.Context().Deadline()
	if bounded && rc.SetReadDeadline(deadline) != nil {
		bounded = false // a writer without deadlines: the context still ends the handler
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		if bounded {
			_ = rc.SetReadDeadline(time.Time{}) // the connection's next request has its own
		}
		return body, nil
	case errors.As(err, &tooLarge):
		return nil, inventory.Errorf(inventory.CodePayloadTooLarge, "request body is larger than %d bytes", limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		return nil, inventory.InvalidRequest("request body was not received within the request timeout").Wrap(err)
	default:
		// The cause (a network error naming addresses) is kept for logs, not shown.
		return nil, inventory.InvalidRequest("cannot read the request body").Wrap(err)
	}
}

// decodeStrict decodes one JSON object into v, rejecting anything but an object (null, arrays,
// strings, numbers, booleans), unknown fields, wrong types and trailing data (400
// invalid_request), then text that is not valid UTF-8 (422 validation_failed naming the field,
// see checkStrings).
func decodeStrict(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(bytes.TrimSpace(trimmed)) == 0 {
		return inventory.InvalidRequest("request body is empty; a JSON object is required")
	}
	if kind := jsonValueKind(trimmed); kind != "" {
		return inventory.InvalidRequest("request body must be a JSON object, not %s", kind)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			return inventory.InvalidRequest("field %q has the wrong type: %s where %s is expected", typeErr.Field, typeErr.Value, jsonKind(typeErr))
		case errors.As(err, &syntaxErr):
			return inventory.InvalidRequest("malformed JSON at offset %d: %v", syntaxErr.Offset, err)
		}
		if name, ok := unknownField(body, reflect.TypeOf(v)); ok {
			return inventory.InvalidRequest("unknown field %q", name)
		}
		return inventory.InvalidRequest("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return inventory.InvalidRequest("unexpected data after the JSON object")
	}
	return checkStrings(body)
}

// jsonValueKind names the kind of JSON value b starts with when it is not an object ("" for an
// object and for bytes that start no value: the decoder reports those).
func jsonValueKind(b []byte) string {
	switch c := b[0]; {
	case bytes.HasPrefix(b, []byte("null")):
		return "null"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case bytes.HasPrefix(b, []byte("true")), bytes.HasPrefix(b, []byte("false")):
		return "a boolean"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return ""
}

func jsonKind(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch e.Type.Kind().String() {
	case "int", "int64", "int32", "uint8":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return e.Type.String()
}

// jsonQuantity is a quantity as it arrives: a JSON number token (strings are rejected, so a
// quantity can never be smuggled in as "1.5"). It is never converted through float64.
type jsonQuantity struct {
	raw string
	set bool
}

// UnmarshalJSON keeps the number token exactly.
func (q *jsonQuantity) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*q = jsonQuantity{}
		return nil
	}
	if s == "" || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) {
		return &json.UnmarshalTypeError{Value: "non-number", Type: nil}
	}
	q.raw, q.set = s, true
	return nil
}

// decimal parses the quantity for field (422 validation_failed when it is not exact/in range).
func (q jsonQuantity) decimal(field string) (inventory.Quantity, error) {
	d, err := inventory.ParseQuantity(q.raw)
	if err != nil {
		return d, fieldError(field, err)
	}
	return d, nil
}

// fieldError names the field a domain error was found in: "<field>: <message>", with
// details.field. Other errors are returned as they are.
func fieldError(field string, err error) error {
	var de *inventory.Error
	if errors.As(err, &de) {
		return inventory.Validation(field, "%s: %s", field, de.Message)
	}
	return err
}

// checkText validates a free-text field: valid UTF-8, no control characters, length bounds.
func checkText(field, v string, minLen, maxLen int) error {
	if !utf8.ValidString(v) {
		return inventory.Validation(field, "%s must be valid UTF-8", field)
	}
	n := utf8.RuneCountInString(v)
	if n < minLen || n > maxLen {
		if minLen > 0 {
			return inventory.Validation(field, "%s must be %d-%d characters", field, minLen, maxLen)
		}
		return inventory.Validation(field, "%s must be at most %d characters", field, maxLen)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return inventory.Validation(field, "%s must not contain control characters", field)
		}
	}
	return nil
}

// quantityJSON prints base units of a product's scale as an exact JSON number.
type quantityJSON struct {
	units int64
	scale int
}

// MarshalJSON prints the exact decimal as a number token.
func (q quantityJSON) MarshalJSON() ([]byte, error) {
	return []byte(inventory.FormatUnits(q.units, q.scale)), nil
}

func mustPositive(field string, d inventory.Quantity) error {
	if d.Units <= 0 {
		return inventory.Validation(field, "%s must be greater than zero", field)
	}
	return nil
}
