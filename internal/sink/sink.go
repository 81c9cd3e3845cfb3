// Package sink checks the observability sinks (observe.Logger,
// observe.Metrics, observe.Tracer) that every Ion package accepts through
// its WithLogger, WithMetrics and WithTracer options, so that a nil sink
// fails closed with the same error everywhere.
package sink

import (
	"reflect"

	"github.com/ionkit/ion"
)

// Set stores v in *dst and returns nil. A nil v leaves *dst alone and
// returns the error that makes the component fail closed: a
// *ion.ConfigError of package pkg naming option, such as
// "pool: invalid configuration: WithLogger: nil observe.Logger". A sink
// that reports its own configuration error through an Err() error method
// (an adapter built with a nil registerer or meter) is refused the same
// way, with its error as the reason. It runs at construction only.
func Set[T comparable](dst *T, v T, pkg, option string) error {
	var none T
	if v == none {
		return ion.NewConfigError(pkg, option, "nil %s", reflect.TypeFor[T]())
	}
	if e, ok := any(v).(interface{ Err() error }); ok {
		if err := e.Err(); err != nil {
			return ion.NewConfigError(pkg, option, "%v", err)
		}
	}
	*dst = v
	return nil
}
