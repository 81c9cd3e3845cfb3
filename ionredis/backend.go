package ionredis

import (
	"context"
	"errors"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/redis/go-redis/v9"
)

// backend makes the round trips of one primitive: each bounded by the
// timeout, reported to the breaker, measured into the metrics.
type backend struct {
	client  redis.UniversalClient
	timeout time.Duration
	breaker *breaker.Breaker
	m       *instruments
}

// instruments are resolved once; a nil *instruments records nothing.
type instruments struct {
	allowed, limited    observe.Counter // ion_redis_limit_requests_total
	acquired, full      observe.Counter // ion_redis_sem_acquire_total
	lost                observe.Counter // ion_redis_sem_leases_lost_total
	errors              observe.Counter // ion_redis_backend_errors_total
	latency             observe.Histogram
	open, closed, local observe.Counter // ion_redis_degraded_total
}

func newInstruments(m observe.Metrics, kind, name string) *instruments {
	if m == nil {
		return nil
	}
	n := observe.L("name", name)
	in := &instruments{
		errors:  m.Counter("ion_redis_backend_errors_total", n, observe.L("kind", kind)),
		latency: m.Histogram("ion_redis_backend_seconds", n, observe.L("kind", kind)),
		open:    m.Counter("ion_redis_degraded_total", n, observe.L("kind", kind), observe.L("mode", "open")),
		closed:  m.Counter("ion_redis_degraded_total", n, observe.L("kind", kind), observe.L("mode", "closed")),
		local:   m.Counter("ion_redis_degraded_total", n, observe.L("kind", kind), observe.L("mode", "local")),
	}
	if kind == "limit" {
		in.allowed = m.Counter("ion_redis_limit_requests_total", n, observe.L("result", "allowed"))
		in.limited = m.Counter("ion_redis_limit_requests_total", n, observe.L("result", "limited"))
	} else {
		in.acquired = m.Counter("ion_redis_sem_acquire_total", n, observe.L("result", "acquired"))
		in.full = m.Counter("ion_redis_sem_acquire_total", n, observe.L("result", "full"))
		in.lost = m.Counter("ion_redis_sem_leases_lost_total", n)
	}
	return in
}

// do runs one round trip fn under the timeout and the breaker. It returns
// nil, the caller's ctx error (wrapped, when the caller's ctx ended: that is
// no backend failure), or a *BackendError.
func (b *backend) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	var t breaker.Ticket
	if b.breaker != nil {
		var err error
		if t, err = b.breaker.Allow(); err != nil {
			b.failed()
			return &BackendError{Op: op, Err: err}
		}
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	err := fn(rctx)
	cancel()
	if b.m != nil {
		b.m.latency.Observe(time.Since(start).Seconds())
	}
	switch {
	case err == nil:
		t.Done(policy.Success)
		return nil
	case ctx.Err() != nil:
		// The caller gave up: says nothing about Redis.
		t.Done(policy.Ignored)
		return ctx.Err()
	}
	t.Done(policy.Failure)
	b.failed()
	if errors.Is(err, context.DeadlineExceeded) {
		err = errTimeout{b.timeout, err}
	}
	return &BackendError{Op: op, Err: err}
}

func (b *backend) failed() {
	if b.m != nil {
		b.m.errors.Add(1)
	}
}

// errTimeout says that the backend timeout, not the caller's deadline,
// ended a round trip; it still matches context.DeadlineExceeded.
type errTimeout struct {
	d   time.Duration
	err error
}

func (e errTimeout) Error() string {
	return "round trip exceeded " + e.d.String() + ": " + e.err.Error()
}
func (e errTimeout) Unwrap() error { return e.err }
