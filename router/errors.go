package router

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error this package returns for an invalid
// shard name, layout, map or ring option; test for it with errors.Is. The
// errors below say which kind of input was invalid; each wraps ErrInvalid.
var ErrInvalid = errors.New("router: invalid input")

// Kinds of invalid input.
var (
	// ErrShardName: a shard name is empty, too long or has a byte outside [A-Za-z0-9_-].
	ErrShardName = fmt.Errorf("%w: shard name", ErrInvalid)
	// ErrPartitionCount: a partition count or map length is out of range, or two maps differ in length.
	ErrPartitionCount = fmt.Errorf("%w: partition count", ErrInvalid)
	// ErrShardCount: a layout has no shards, or more shards than partitions.
	ErrShardCount = fmt.Errorf("%w: shard count", ErrInvalid)
	// ErrDuplicateShard: a layout names a shard twice.
	ErrDuplicateShard = fmt.Errorf("%w: duplicate shard", ErrInvalid)
	// ErrRingOptions: a ring option is out of range, or the ring cannot place the partitions.
	ErrRingOptions = fmt.Errorf("%w: ring options", ErrInvalid)
)

// invalidError is an input error of one kind with a message of its own.
type invalidError struct {
	kind error
	msg  string
}

func (e *invalidError) Error() string { return "router: " + e.msg }
func (e *invalidError) Unwrap() error { return e.kind }

// invalidf returns an error of the given kind whose message is "router: " + the formatted text.
func invalidf(kind error, format string, args ...any) error {
	return &invalidError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// within returns err (an error of this package) with its message prefixed by context, keeping its kind.
func within(err error, format string, args ...any) error {
	var ie *invalidError
	if !errors.As(err, &ie) {
		return err
	}
	return &invalidError{kind: ie.kind, msg: fmt.Sprintf(format, args...) + ": " + ie.msg}
}
