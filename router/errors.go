package router

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error this package returns for an invalid
// shard name, layout, map or ring option; test for it with errors.Is.
var ErrInvalid = errors.New("router: invalid input")

// invalidError is an input error with a message of its own that unwraps to ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

// invalidf returns an error wrapping ErrInvalid whose message is "router: " + the formatted text.
func invalidf(format string, args ...any) error {
	return &invalidError{msg: "router: " + fmt.Sprintf(format, args...)}
}
