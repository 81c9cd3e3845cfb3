package policy

import (
	"io"
	"reflect"
)

// Discard hands v, a result that a policy throws away, to the pipeline's
// discard hook (see [Pipeline.WithDiscard]); without a hook, it closes v
// when v is an [io.Closer] (and not a nil pointer, map, slice, func, chan
// or interface), ignoring the error of Close.
//
// Ion's policies discard every value a call returned that the caller does
// not get: the failed attempts a [Retry] retries, the attempts a [Hedge]
// loses (late finishers included), the result of a call a [Timeout] with
// [WithAbandon] gave up on, and the failed result a [Fallback] replaces. A
// policy of your own that throws a result away should call Discard too. A
// value returned to the caller is never discarded, and no value is
// discarded twice.
//
// Discard runs the hook on the calling goroutine and returns when it
// returns. Without a hook it adds no allocation for a T that is not an
// io.Closer.
func (n Next[T]) Discard(v T) {
	if n.h != nil && n.h.discard != nil {
		n.h.discard(v)
		return
	}
	closeDiscarded(v)
}

// closeDiscarded is the default discard hook: it closes v if v is an
// io.Closer that is not a nil reference. A T whose type cannot be an
// io.Closer returns before v is boxed, so the common case (a string, a
// struct result) allocates nothing.
func closeDiscarded[T any](v T) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Interface && !t.Implements(closerType) {
		return
	}
	c, ok := any(v).(io.Closer)
	if !ok {
		return
	}
	switch rv := reflect.ValueOf(c); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		if rv.IsNil() {
			return
		}
	}
	_ = c.Close()
}

var closerType = reflect.TypeFor[io.Closer]()
