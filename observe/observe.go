package observe

import (
	"context"
	"log/slog"
	"runtime"
	"time"
)

// Label is one metric label, a key and a value fixed when an instrument is
// resolved.
type Label struct {
	Key, Value string
}

// L returns the Label key=value.
func L(key, value string) Label { return Label{Key: key, Value: value} }

// Metrics resolves instruments. Ion calls its methods only at construction,
// never per call, so implementations may allocate and take locks freely.
// Implementations must be safe for concurrent use and must return a non-nil
// instrument; calling the same method twice with the same name and labels
// should return instruments that record into the same series.
type Metrics interface {
	Counter(name string, labels ...Label) Counter
	Gauge(name string, labels ...Label) Gauge
	Histogram(name string, labels ...Label) Histogram
}

// Counter is a monotonically increasing count. Add is called on hot paths: it
// must be safe for concurrent use and should neither block nor allocate.
type Counter interface {
	Add(delta int64)
}

// Gauge is a value that goes up and down. Set is called on hot paths: it must
// be safe for concurrent use and should neither block nor allocate.
type Gauge interface {
	Set(v float64)
}

// Histogram records a distribution of values (durations in seconds). Observe
// is called on hot paths: it must be safe for concurrent use and should
// neither block nor allocate.
type Histogram interface {
	Observe(v float64)
}

// Logger receives Ion's rare events: state changes, recovered panics,
// misuse that has no error to return. Implementations must be safe for
// concurrent use. Ion never calls a Logger while holding a lock.
type Logger interface {
	Log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr)
}

// Tracer starts one span per policy execution. Start returns the context to
// pass to the inner call and the span, which Ion ends exactly once.
type Tracer interface {
	Start(ctx context.Context, name string) (context.Context, Span)
}

// Span is a started span. End is called exactly once with the outcome of the
// execution ("success", "failure", "ignored" or "rejected") and the error the
// caller received (nil on success).
type Span interface {
	End(outcome string, err error)
}

// Nop returns a [Metrics] whose instruments discard everything. Ion does not
// need it (a nil sink already costs nothing); it is for users who want a
// non-nil value.
func Nop() Metrics { return nop{} }

type nop struct{}

func (nop) Counter(string, ...Label) Counter     { return nop{} }
func (nop) Gauge(string, ...Label) Gauge         { return nop{} }
func (nop) Histogram(string, ...Label) Histogram { return nop{} }
func (nop) Add(int64)                            {}
func (nop) Set(float64)                          {}
func (nop) Observe(float64)                      {}

// Slog returns a [Logger] that writes to l's handler: each Log becomes one
// slog record with the given level, message and attrs, plus whatever
// attributes and groups l carries. A record below the handler's level is
// dropped before it is built. The record's source location (for a handler
// with AddSource) is the code that called Log, not this adapter.
//
// A nil l returns nil, which every Ion option rejects with an error matching
// ion.ErrInvalidConfig.
func Slog(l *slog.Logger) Logger {
	if l == nil {
		return nil
	}
	return slogLogger{l.Handler()}
}

type slogLogger struct{ h slog.Handler }

func (s slogLogger) Log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if ctx == nil {
		ctx = context.Background() // handlers may call ctx methods; never hand them nil
	}
	if !s.h.Enabled(ctx, level) {
		return
	}
	// Build the record here rather than through slog.Logger.LogAttrs, which
	// would report this function as the source of every record.
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // skip runtime.Callers and this method
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	r.AddAttrs(attrs...)
	_ = s.h.Handle(ctx, r) // a Logger has no error to return; slog.Logger drops it too
}
