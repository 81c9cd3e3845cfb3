// Package reject builds the sentinel errors of Ion's rejections: errors whose
// text names the package and that match ion.ErrRejected with errors.Is.
package reject

import "github.com/ionkit/ion"

// Error is a rejection sentinel. Compare with errors.Is.
type Error struct{ msg string }

// New returns a sentinel with text msg (prefixed with the package name by the
// caller, as in "sem: full") that matches ion.ErrRejected.
func New(msg string) *Error { return &Error{msg: msg} }

// Error returns the sentinel's text.
func (e *Error) Error() string { return e.msg }

// Is reports whether target is ion.ErrRejected.
func (e *Error) Is(target error) bool { return target == ion.ErrRejected }
