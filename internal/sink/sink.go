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
// "pool: invalid configuration: WithLogger: nil observe.Logger". It runs at construction only.
func Set[T comparable](dst *T, v T, pkg, option string) error {
	var none T
	if v == none {
		return ion.NewConfigError(pkg, option, "nil %s", reflect.TypeFor[T]())
	}
	*dst = v
	return nil
}
