package sink_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/sink"
	"github.com/ionkit/ion/observe"
)

type logger struct{}

func (logger) Log(context.Context, slog.Level, string, ...slog.Attr) {}

func TestSet(t *testing.T) {
	var dst observe.Logger
	if err := sink.Set(&dst, observe.Logger(logger{}), "pool", "WithLogger"); err != nil || dst == nil {
		t.Fatalf("Set(a logger) = %v, dst %v; want nil and the logger stored", err, dst)
	}
	err := sink.Set(&dst, nil, "pool", "WithLogger")
	if !errors.Is(err, ion.ErrInvalidConfig) {
		t.Fatalf("Set(nil) = %v, want an error matching ion.ErrInvalidConfig", err)
	}
	if want := "pool: invalid configuration: WithLogger: nil observe.Logger"; err.Error() != want {
		t.Errorf("Set(nil) error = %q, want %q", err, want)
	}
	if dst == nil {
		t.Error("Set(nil) cleared the sink set before")
	}
}

// broken is a sink built from bad input, which says so through Err.
type broken struct{ logger }

func (broken) Err() error { return errors.New("ionprom: invalid configuration: registerer: nil") }

func TestSetRefusesABrokenSink(t *testing.T) {
	var dst observe.Logger
	err := sink.Set(&dst, observe.Logger(broken{}), "pool", "WithLogger")
	if !errors.Is(err, ion.ErrInvalidConfig) {
		t.Fatalf("Set(a broken sink) = %v, want an error matching ion.ErrInvalidConfig", err)
	}
	if want := "pool: invalid configuration: WithLogger: ionprom: invalid configuration: registerer: nil"; err.Error() != want {
		t.Errorf("Set(a broken sink) error = %q, want %q", err, want)
	}
	if dst != nil {
		t.Error("Set(a broken sink) stored it")
	}
}
