package gateway

import (
	"errors"
	"fmt"
)

// ErrorKind classifies errors so that adapters map them to HTTP statuses and
// MQTT replies in one place.
type ErrorKind string

const (
	Invalid     ErrorKind = "invalid"     // bad input; the caller must change the request
	NotFound    ErrorKind = "not_found"   // no such thing
	Conflict    ErrorKind = "conflict"    // the state forbids it now (a checkout in progress, a version mismatch)
	Unavailable ErrorKind = "unavailable" // a device, the disk or the cloud is not there; try later
	Internal    ErrorKind = "internal"    // a bug or a broken invariant
)

// Error is an error with a kind and a message safe to show to a user.
type Error struct {
	Kind    ErrorKind
	Message string
	Err     error // wrapped cause, may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind.
func Errorf(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// or Internal.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
