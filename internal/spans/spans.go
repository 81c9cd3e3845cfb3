// Package spans holds what every policy adapter does with its span when
// the call it guards panics, so that the limit, sem, breaker and adaptive
// adapters record a panic the same way.
package spans

import (
	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// EndIfPanicked ends span as a failure when the call it guards did not
// return (*returned is false): with the panic as an *ion.PanicError, or
// with a nil error for runtime.Goexit, which recover cannot see. It then
// lets the panic go on, unchanged: the adapters never swallow a panic on
// the caller's goroutine.
//
// It must be deferred directly, before the call (defer
// spans.EndIfPanicked(span, &returned)), so that its recover sees the
// panic; a call that returns sets returned and ends the span itself.
func EndIfPanicked(span observe.Span, returned *bool) {
	if *returned {
		return
	}
	r := recover()
	if r == nil {
		span.End("failure", nil)
		return
	}
	span.End("failure", ion.NewPanicError(r))
	panic(r)
}
