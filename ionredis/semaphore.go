package ionredis

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/sem"
	"github.com/redis/go-redis/v9"
)

// acquireSource takes a permit if fewer than capacity leases are live.
// KEYS: the holders (a sorted set of fencing token -> expiry in server µs)
// and the fencing counter. ARGV: capacity, TTL in µs. Expired leases (their
// holder crashed or lost Redis for a whole TTL) are dropped first. The
// counter starts, when missing (a new semaphore, or Redis restarted without
// its data), at the server time in µs, so tokens keep increasing across such
// a restart unless more than a million permits a second were taken before.
// Returns {1, token} or {0, µs until the earliest lease expires}.
const acquireSource = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
if redis.call('ZCARD', KEYS[1]) < cap then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], string.format('%d', now))
  end
  local tok = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), string.format('%d', tok))
  local ms = math.floor((ttl + 999) / 1000)
  if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
  return {1, tok}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}
`

// renewSource extends the lease ARGV[1] by ARGV[2] µs if it is still live;
// returns 1, or 0 when it is gone (expired, released, or Redis lost it).
const renewSource = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl = tonumber(ARGV[2])
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) <= now then
  if s then redis.call('ZREM', KEYS[1], ARGV[1]) end
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), ARGV[1])
local ms = math.floor((ttl + 999) / 1000)
if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
return 1
`

var (
	acquireScript = redis.NewScript(acquireSource)
	renewScript   = redis.NewScript(renewSource)
)

// DefaultTTL is a semaphore lease's time to live unless [WithTTL] says
// otherwise.
const DefaultTTL = 10 * time.Second

// Semaphore is a counting semaphore shared by every replica that builds one
// with the same name: at most capacity permits are held at once, fleet-wide.
// It is the fleet-wide bulkhead: [Policy] bounds the calls running through
// it in every replica together.
//
// A permit is a lease with a TTL ([WithTTL], default [DefaultTTL]), kept in
// Redis with its expiry on Redis's clock and renewed by the holder every
// third of the TTL while it is held. If the holder crashes (or loses Redis
// for a whole TTL) its permit comes back at most one TTL after the last
// renewal. Each acquisition gets a fencing token, strictly increasing, for
// the holder to pass to the resource it guards, so the resource can refuse
// a holder whose lease has passed to another. Each permit weighs 1.
//
// There is no usable zero value (its calls fail closed): use [NewSemaphore].
// A Semaphore is safe
// for concurrent use by multiple goroutines.
type Semaphore struct {
	be       backend
	name     string
	capacity int64
	ttl      time.Duration
	keys     []string // holders, fencing counter
	args     []any    // capacity, TTL µs
	ttlArg   string
	failOpen bool
	fallback *sem.Weighted
	err      error
}

// NewSemaphore returns a semaphore of capacity permits on client, shared
// by every Semaphore with the same name on the same Redis (name is its
// identity across replicas).
//
// A nil client, an empty name, a capacity below 1 or an invalid option
// make the semaphore fail closed: every call returns an error matching
// ion.ErrInvalidConfig that names the parameter. When Redis fails the
// acquisition is rejected with a [*BackendError] unless [WithFailOpen] or
// [WithLocalSemaphore] says otherwise.
func NewSemaphore(client redis.UniversalClient, name string, capacity int64, opts ...SemaphoreOption) *Semaphore {
	cfg := semConfig{common: common{timeout: DefaultTimeout}, ttl: DefaultTTL}
	for _, o := range opts {
		if o == nil {
			cfg.fail(configError("opts", "nil SemaphoreOption"))
			continue
		}
		o.applySemaphore(&cfg)
	}
	s := &Semaphore{
		be:       backend{client: client, timeout: cfg.timeout, breaker: cfg.breaker},
		name:     name,
		capacity: capacity,
		ttl:      cfg.ttl,
		failOpen: cfg.failOpen,
		fallback: cfg.fallback,
		err:      cfg.err,
	}
	switch {
	case s.err != nil:
	case cfg.failOpen && cfg.fallback != nil:
		s.err = configError("WithLocalSemaphore", "contradicts WithFailOpen: choose one failure mode")
	case checkClient(client) != nil:
		s.err = checkClient(client)
	case name == "":
		s.err = configError("name", "must not be empty: it is the semaphore's identity across replicas")
	case capacity < 1:
		s.err = configError("capacity", "must be at least 1, got %d", capacity)
	}
	if s.err != nil {
		return s
	}
	prefix := "ion:sem:" + tag(encodeName(name), "") + ":"
	s.keys = []string{prefix + "holders", prefix + "fence"}
	s.ttlArg = strconv.FormatInt(int64(s.ttl/time.Microsecond), 10)
	s.args = []any{strconv.FormatInt(capacity, 10), s.ttlArg}
	s.be.m = newInstruments(cfg.metrics, "sem", name)
	return s
}

// Err returns the configuration error that makes the semaphore fail
// closed, or nil.
func (s *Semaphore) Err() error { return s.err }

// Capacity returns the number of permits.
func (s *Semaphore) Capacity() int64 { return s.capacity }

// String describes the semaphore, as in "redis-sem(db) capacity 5 ttl 10s".
func (s *Semaphore) String() string {
	d := "redis-sem(" + s.name + ")"
	if s.err != nil {
		return d + " invalid: " + s.err.Error()
	}
	return d + " capacity " + strconv.FormatInt(s.capacity, 10) + " ttl " + s.ttl.String()
}

// TryAcquire takes a permit if one is free, in one round trip, without
// waiting. With none free it returns a [*FullError] (matching [ErrFull] and
// ion.ErrRejected; its RetryAfter is when the earliest lease would expire
// if not renewed). The returned lease is renewed in the background until
// [Lease.Release]; the caller must release it. A done ctx returns
// ctx.Err(); a Redis failure is handled by the failure mode (a
// [*BackendError] by default).
func (s *Semaphore) TryAcquire(ctx context.Context) (*Lease, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	l, wait, err := s.try(ctx)
	switch {
	case err != nil:
		return s.degraded(ctx, err, false)
	case l == nil:
		return nil, &FullError{wait: wait}
	}
	return l, nil
}

// Acquire takes a permit, waiting until one is free or ctx ends. Redis
// has no wake-up for a released permit, so a waiting caller asks again
// with randomized backoff (5ms doubling to 200ms, never past the earliest
// lease's expiry): it takes one round trip per attempt and is not FIFO. If
// ctx ends first it returns ctx.Err() and holds nothing. Otherwise it
// behaves as [Semaphore.TryAcquire].
func (s *Semaphore) Acquire(ctx context.Context) (*Lease, error) {
	return s.acquireUntil(ctx, time.Time{})
}

// acquireUntil is Acquire whose wait for a free permit ends at deadline
// (the zero time: no end), with a *FullError that also matches
// context.DeadlineExceeded. The deadline bounds the waiting, never a round
// trip: each is bounded by the backend timeout alone, so a Redis that
// fails (or hangs until the timeout) is a backend failure that the failure
// mode answers, not a full semaphore.
func (s *Semaphore) acquireUntil(ctx context.Context, deadline time.Time) (*Lease, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	backoff := 5 * time.Millisecond
	for {
		l, wait, err := s.try(ctx)
		switch {
		case err != nil:
			return s.degradedUntil(ctx, err, deadline)
		case l != nil:
			return l, nil
		}
		d := min(backoff, max(wait, time.Millisecond))
		d = d/2 + rand.N(d/2+1) // spread replicas that wait together
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, &FullError{wait: wait, timedOut: true}
			}
			d = min(d, left)
		}
		if !sleepCtx(ctx, d) {
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// degradedUntil is degraded for a caller that may wait for the local
// fallback until deadline (the zero time: as long as ctx allows).
func (s *Semaphore) degradedUntil(ctx context.Context, err error, deadline time.Time) (*Lease, error) {
	if deadline.IsZero() || s.fallback == nil {
		return s.degraded(ctx, err, true)
	}
	if time.Until(deadline) <= 0 {
		// The round trip used up the wait: the local permit now or never.
		l, derr := s.degraded(ctx, err, false)
		if fe, ok := derr.(*FullError); ok {
			fe.timedOut = true
		}
		return l, derr
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	l, derr := s.degraded(wctx, err, true)
	if derr != nil && ctx.Err() == nil && errors.Is(derr, context.DeadlineExceeded) {
		return nil, &FullError{timedOut: true}
	}
	return l, derr
}

// try makes one acquisition attempt: a lease, or the wait until the
// earliest lease expires.
func (s *Semaphore) try(ctx context.Context) (*Lease, time.Duration, error) {
	var vals []int64
	err := s.be.do(ctx, "acquire", func(ctx context.Context) error {
		var err error
		vals, err = acquireScript.Run(ctx, s.be.client, s.keys, s.args...).Int64Slice()
		return err
	})
	if err == nil && len(vals) != 2 {
		err = &BackendError{Op: "acquire", Err: errBadReply}
	}
	if err != nil {
		return nil, 0, err
	}
	m := s.be.m
	if vals[0] == 0 {
		if m != nil {
			m.full.Add(1)
		}
		return nil, time.Duration(vals[1]) * time.Microsecond, nil
	}
	if m != nil {
		m.acquired.Add(1)
	}
	return s.newLease(vals[1]), 0, nil
}

var errZeroSem = configError("Semaphore", "the zero value is not usable: use NewSemaphore")

func (s *Semaphore) check(ctx context.Context) error {
	switch {
	case s.err != nil:
		return s.err
	case s.be.client == nil:
		return errZeroSem
	case ctx == nil:
		return errNilCtx
	}
	return ctx.Err()
}

// degraded applies the failure mode to a failed acquisition.
func (s *Semaphore) degraded(ctx context.Context, err error, wait bool) (*Lease, error) {
	if _, ok := err.(*BackendError); !ok {
		return nil, err
	}
	m := s.be.m
	switch {
	case s.failOpen:
		if m != nil {
			m.open.Add(1)
		}
		return &Lease{local: true}, nil
	case s.fallback != nil:
		if m != nil {
			m.local.Add(1)
		}
		if wait {
			if err := s.fallback.Acquire(ctx, 1); err != nil {
				return nil, err
			}
		} else if !s.fallback.TryAcquire(1) {
			return nil, &FullError{}
		}
		return &Lease{local: true, fallback: s.fallback}, nil
	}
	if m != nil {
		m.closed.Add(1)
	}
	return nil, err
}

// FullError is the rejection of a [Semaphore] with no free permit. It
// matches [ErrFull] and ion.ErrRejected with errors.Is, and also
// context.DeadlineExceeded when a [WithMaxWait] wait ran out.
type FullError struct {
	wait     time.Duration
	timedOut bool // a max wait ran out: also matches context.DeadlineExceeded
}

// Error returns "ionredis: semaphore full".
func (e *FullError) Error() string { return ErrFull.Error() }

// RetryAfter returns how long until the earliest lease expires if its
// holder stops renewing it: an upper bound for a crashed holder; a live
// holder's release frees a permit sooner. It is 0 when unknown (the local
// fallback semaphore was full).
func (e *FullError) RetryAfter() time.Duration { return e.wait }

// Unwrap returns [ErrFull].
func (e *FullError) Unwrap() error { return ErrFull }

// Is reports whether target is ion.ErrRejected (or
// context.DeadlineExceeded, after a max wait).
func (e *FullError) Is(target error) bool {
	return target == ion.ErrRejected || e.timedOut && target == context.DeadlineExceeded
}

// Lease is a permit of a [Semaphore], renewed in the background until
// [Lease.Release]. Its methods are safe for concurrent use.
type Lease struct {
	s        *Semaphore
	token    int64
	member   string
	local    bool          // not from Redis: fail open or fallback
	fallback *sem.Weighted // the local semaphore to release to, if any

	stop chan struct{} // closed by the first Release
	done chan struct{} // closed by the renewal goroutine when it exits
	lost chan struct{} // closed by the renewal goroutine if the lease is lost

	once sync.Once

	mu     sync.Mutex
	onLost func() // called once if the lease is lost; guarded by mu
	gone   bool   // lost already; guarded by mu
}

func (s *Semaphore) newLease(token int64) *Lease {
	l := &Lease{
		s:      s,
		token:  token,
		member: strconv.FormatInt(token, 10),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		lost:   make(chan struct{}),
	}
	// Owner: the lease. Exits when Release closes stop, or when the lease
	// is lost. Joined by Release.
	go l.renew()
	return l
}

// Token returns the lease's fencing token: greater than the token of every
// lease granted before it by this semaphore. Pass it to the resource the
// permit guards, which should refuse a token lower than one it has seen.
// It is 0 for a lease granted by the failure mode without Redis.
func (l *Lease) Token() int64 { return l.token }

// Lost returns a channel closed if the lease is lost: it could not be
// renewed before it expired (Redis unreachable for a whole TTL, or Redis
// lost it in a restart), so another holder may now have the permit. It is
// never closed for a released lease, nor for a lease granted without Redis.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// renew extends the lease every third of the TTL until stopped or lost.
// A failed renewal is retried at the next tick; the lease is lost when
// Redis says it is gone, or when no renewal succeeded for a whole TTL
// (Redis has expired it by then).
func (l *Lease) renew() {
	defer close(l.done)
	s := l.s
	every := s.ttl / 3
	last := time.Now() // the last time Redis confirmed the lease (a lower bound)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		sent := time.Now()
		var n int64
		err := s.be.do(context.Background(), "renew", func(ctx context.Context) error {
			var err error
			n, err = renewScript.Run(ctx, s.be.client, s.keys[:1], l.member, s.ttlArg).Int64()
			return err
		})
		switch {
		case err == nil && n == 1:
			last = sent
		case err == nil || time.Since(last) >= s.ttl:
			l.markLost()
			return
		}
		t.Reset(min(every, max(s.ttl-time.Since(last), time.Millisecond)))
	}
}

func (l *Lease) markLost() {
	l.mu.Lock()
	l.gone = true
	f := l.onLost
	l.mu.Unlock()
	// Counted before Lost is closed, so that whoever Lost wakes sees the
	// count.
	if m := l.s.be.m; m != nil {
		m.lost.Add(1)
	}
	close(l.lost)
	if f != nil {
		f()
	}
}

// setOnLost arranges for f to run if the lease is lost (at once if it is
// already).
func (l *Lease) setOnLost(f func()) {
	l.mu.Lock()
	gone := l.gone
	l.onLost = f
	l.mu.Unlock()
	if gone {
		f()
	}
}

// Release returns the permit: it stops the renewal (waiting for it to
// exit) and deletes the lease in one round trip, bounded by the backend
// timeout. It is idempotent: only the first call does anything, later ones
// return nil. If the round trip fails the permit still comes back when the
// lease expires, at most one TTL later, and the [*BackendError] is
// returned. The round trip is not cancelled with ctx (a done ctx still
// releases, since keeping a permit is worse); ctx only carries values.
func (l *Lease) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	var err error
	l.once.Do(func() {
		if l.local {
			if l.fallback != nil {
				l.fallback.Release(1)
			}
			return
		}
		close(l.stop)
		<-l.done
		select {
		case <-l.lost:
			return // gone already
		default:
		}
		if ctx == nil {
			ctx = context.Background()
		}
		ctx = context.WithoutCancel(ctx)
		s := l.s
		err = s.be.do(ctx, "release", func(ctx context.Context) error {
			return s.be.client.ZRem(ctx, s.keys[0], l.member).Err()
		})
	})
	return err
}

// sleepCtx waits d or until ctx ends, reporting whether d elapsed. The
// timer is stopped on every path.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
