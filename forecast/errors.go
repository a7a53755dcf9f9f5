package forecast

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error this package returns for an invalid
// series or option; test for it with errors.Is.
var ErrInvalid = errors.New("forecast: invalid input")

// ErrNoData is returned when a series has no observed day (empty, or every
// day missing or out of stock), so there is nothing to learn from.
var ErrNoData = errors.New("forecast: no observed demand")

// invalidError is an input error with a message of its own that unwraps to ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

// invalidf returns an error wrapping ErrInvalid whose message is "forecast: " + the formatted text.
func invalidf(format string, args ...any) error {
	return &invalidError{msg: "forecast: " + fmt.Sprintf(format, args...)}
}
