package policy

import (
	"context"
	"errors"
	"fmt"
	"github.com/ionkit/ion/internal/sink"
	"log/slog"
	"sync/atomic"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// RetryOption configures [Retry]. The options that only Retry accepts are
// [WithAttempts], [WithUnlimitedAttempts], [WithMaxDuration], [WithBackoff],
// [WithJitter], [WithSeed] and [WithOnRetry]; [WithBudget] and every
// [Option] work too.
type RetryOption interface{ applyRetry(*retryConfig) }

// TimeoutOption configures [Timeout]: [WithAbandon] and every [Option].
type TimeoutOption interface{ applyTimeout(*timeoutConfig) }

// FallbackOption configures [Fallback] and [FallbackFunc]: every [Option].
type FallbackOption interface{ applyFallback(*fallbackConfig) }

// HedgeOption configures [Hedge] and [HedgeFunc]: [WithHedges],
// [WithBudget] and every [Option].
type HedgeOption interface{ applyHedge(*hedgeConfig) }

// Option is an option that every call-shaping policy (Retry, Timeout,
// Fallback, Hedge) accepts: [WithName], [WithMetrics], [WithLogger] and
// [WithTracer].
type Option interface {
	RetryOption
	TimeoutOption
	FallbackOption
	HedgeOption
}

// BudgetOption is an option that the policies making extra attempts (Retry
// and Hedge) accept: [WithBudget].
type BudgetOption interface {
	RetryOption
	HedgeOption
}

// WithName names the policy: the name is the "name" label of its metrics,
// the name of its spans and part of its String. The default is the policy's
// kind ("retry", "timeout", "fallback", "hedge"); an empty name keeps it.
func WithName(name string) Option {
	return commonOption(func(c *common) {
		if name != "" {
			c.name = name
		}
	})
}

// WithMetrics records the policy's metrics (listed in the package doc) into
// m. The instruments are resolved once, at construction; per call the policy
// only adds to counters, without allocating. A nil m makes the policy fail
// closed with an error matching ion.ErrInvalidConfig.
func WithMetrics(m observe.Metrics) Option {
	return commonOption(func(c *common) { c.fail(sink.Set(&c.metrics, m, "policy", "WithMetrics")) })
}

// WithLogger sends the policy's rare events (a retry giving up, an abandoned
// goroutine, a recovered panic, a failing fallback function) to l. A nil l
// makes the policy fail closed with an error matching ion.ErrInvalidConfig.
func WithLogger(l observe.Logger) Option {
	return commonOption(func(c *common) { c.fail(sink.Set(&c.logger, l, "policy", "WithLogger")) })
}

// WithTracer starts one span per execution of the policy, named after the
// policy's String, and ends it with the outcome and the error the caller
// gets. A nil t makes the policy fail closed with an error matching
// ion.ErrInvalidConfig.
func WithTracer(t observe.Tracer) Option {
	return commonOption(func(c *common) { c.fail(sink.Set(&c.tracer, t, "policy", "WithTracer")) })
}

// WithBudget limits the retries of a [Retry] or the hedges of a [Hedge] with
// b, which may be shared by several policies and is shared by every call
// through them: every call deposits into b and every retry or hedge
// withdraws from it (see [Budget]). A nil b, or one built from invalid
// arguments, makes the policy fail closed with an error matching
// ion.ErrInvalidConfig.
func WithBudget(b *Budget) BudgetOption {
	return budgetOption{b}
}

type budgetOption struct{ b *Budget }

func (o budgetOption) set(c *common) {
	switch {
	case o.b == nil:
		c.fail(ion.NewConfigError("policy", "WithBudget", "nil *Budget"))
	case o.b.err != nil:
		c.fail(o.b.err)
	default:
		c.budget = o.b
	}
}

func (o budgetOption) applyRetry(c *retryConfig) { o.set(&c.common) }
func (o budgetOption) applyHedge(c *hedgeConfig) { o.set(&c.common) }

// common is the configuration every call-shaping policy shares.
type common struct {
	name    string
	metrics observe.Metrics
	logger  observe.Logger
	tracer  observe.Tracer
	budget  *Budget // Retry and Hedge only
	err     error   // the first configuration error; the policy fails closed
}

// fail records err unless an earlier error was recorded.
func (c *common) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// nilOption records that option i was nil: calling a method on it would
// panic, and a constructor never panics.
func (c *common) nilOption(i int) {
	c.fail(ion.NewConfigError("policy", fmt.Sprintf("option %d", i), "nil option"))
}

type commonOption func(*common)

func (o commonOption) applyRetry(c *retryConfig)       { o(&c.common) }
func (o commonOption) applyTimeout(c *timeoutConfig)   { o(&c.common) }
func (o commonOption) applyFallback(c *fallbackConfig) { o(&c.common) }
func (o commonOption) applyHedge(c *hedgeConfig)       { o(&c.common) }

// observer holds a policy's resolved sinks. Every instrument is nil when no
// Metrics sink is configured, so the hot path pays one nil check.
type observer struct {
	kind   string // "retry", "timeout", "fallback", "hedge"
	name   string // the "name" label
	span   string // the span name, the policy's String
	logger observe.Logger
	tracer observe.Tracer
	m      observe.Metrics
}

func newObserver(kind string, c *common) observer {
	name := c.name
	if name == "" {
		name = kind
	}
	return observer{kind: kind, name: name, logger: c.logger, tracer: c.tracer, m: c.metrics}
}

// counter resolves the counter name with the policy's labels plus extra, or
// returns nil when no Metrics sink is configured.
func (o *observer) counter(name string, extra ...observe.Label) observe.Counter {
	if o.m == nil {
		return nil
	}
	return o.m.Counter(name, append([]observe.Label{observe.L("name", o.name), observe.L("policy", o.kind)}, extra...)...)
}

// gauge resolves the gauge name with the policy's labels, or returns nil.
func (o *observer) gauge(name string) observe.Gauge {
	if o.m == nil {
		return nil
	}
	return o.m.Gauge(name, observe.L("name", o.name), observe.L("policy", o.kind))
}

// log sends a rare event to the Logger, if any, tagged with the policy.
func (o *observer) log(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if o.logger == nil {
		return
	}
	o.logger.Log(ctx, level, msg, append([]slog.Attr{slog.String("policy", o.kind), slog.String("name", o.name)}, attrs...)...)
}

// named reports whether the policy was given a name of its own.
func (o *observer) named() bool { return o.name != o.kind }

// add adds 1 to c if it is not nil.
func add(c observe.Counter) {
	if c != nil {
		c.Add(1)
	}
}

// setGauge publishes n to g so that the last value set is the current value
// of n even when several goroutines change n at once: whoever sets a stale
// value sees the change and sets again. The gauge is a user sink, so it is
// never called under a lock.
func setGauge(g observe.Gauge, n *atomic.Int64) {
	if g == nil {
		return
	}
	for {
		v := n.Load()
		g.Set(float64(v))
		if n.Load() == v {
			return
		}
	}
}

// errPanicked is the error a span ends with when the execution panicked.
var errPanicked = errors.New("policy: panic")

// traced runs run under a span named after the policy and ends the span with
// the outcome and the error the caller gets, or with "failure" if run
// panics (the panic goes on unchanged).
func traced[T any](ctx context.Context, o *observer, next Next[T], run func(context.Context, Next[T]) (T, error)) (T, error) {
	sctx, span := o.tracer.Start(ctx, o.span)
	ended := false
	defer func() {
		if !ended {
			span.End(Failure.String(), errPanicked)
		}
	}()
	v, err := run(sctx, next)
	ended = true
	span.End(outcomeName(ctx, next.Classify(ctx, v, err), err), err)
	return v, err
}

// outcomeName is the span outcome for o: an outcome caused by a rejection
// (Ignored, or Failure for a classifier's own verdict) is "rejected".
func outcomeName(ctx context.Context, o Outcome, err error) string {
	if o != Success && rejected(ctx, err) {
		return "rejected"
	}
	return o.String()
}
