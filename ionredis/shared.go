package ionredis

import (
	"context"
	"sync"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/redis/go-redis/v9"
)

// shareSource merges one replica's outcomes into the fleet's and returns
// the fleet's breaker state. KEYS: the state hash (field "gen", the server
// µs of the last fleet trip, and "until", when that open period ends) and
// the window hash (fields "<bucket>:s" and "<bucket>:f"). ARGV: successes,
// failures, tripped (1 when the replica's own breaker opened since its last
// report), bucket µs, buckets, min calls, failure rate in parts per
// million, open µs. Returns {open (0/1), generation, µs left open}.
const shareSource = `
local floor = math.floor
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local succ, fail, tripped = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket, n, minCalls = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local rate, openFor = tonumber(ARGV[7]), tonumber(ARGV[8])
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or 0) or 0
local untilT = tonumber(redis.call('HGET', KEYS[1], 'until') or 0) or 0
if untilT > now then
  return {1, gen, untilT - now}
end
local b = floor(now / bucket)
if succ > 0 then redis.call('HINCRBY', KEYS[2], b .. ':s', succ) end
if fail > 0 then redis.call('HINCRBY', KEYS[2], b .. ':f', fail) end
redis.call('PEXPIRE', KEYS[2], floor((bucket * n + 999) / 1000))
local s, f = 0, 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local field, v = all[i], tonumber(all[i + 1])
  local idx, kind = string.match(field, '^(%d+):(%a)$')
  idx = tonumber(idx)
  if idx == nil or idx <= b - n then
    redis.call('HDEL', KEYS[2], field)
  elseif kind == 's' then
    s = s + v
  else
    f = f + v
  end
end
if tripped == 1 or (s + f >= minCalls and f * 1000000 >= rate * (s + f)) then
  gen, untilT = now, now + openFor
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'gen', gen, 'until', untilT)
  redis.call('PEXPIRE', KEYS[1], floor((openFor + 999) / 1000))
  return {1, gen, openFor}
end
return {0, gen, 0}
`

var shareScript = redis.NewScript(shareSource)

// SharedBreakerOption configures [NewSharedBreaker].
type SharedBreakerOption interface {
	applyShared(*sharedConfig)
}

type sharedConfig struct {
	common
	every    time.Duration
	rate     float64
	minCalls int
	window   time.Duration
	openFor  time.Duration
}

type sharedOption func(*sharedConfig)

func (f sharedOption) applyShared(c *sharedConfig) { f(c) }

// WithSyncEvery sets how often a [SharedBreaker] reports and reads the
// fleet's state (default 1s): the bound on how stale a replica's view is.
// A d below 10ms makes the shared breaker fail closed.
func WithSyncEvery(d time.Duration) SharedBreakerOption {
	return sharedOption(func(c *sharedConfig) {
		if d < 10*time.Millisecond {
			c.fail(configError("WithSyncEvery", "must be at least 10ms, got %v", d))
			return
		}
		c.every = d
	})
}

// WithFleetRule opens every replica's breaker when, over the last window
// of Redis time, the calls of all replicas together number at least
// minCalls and at least rate of them failed (default: 50% of at least 100
// calls over 10s). rate must be in (0, 1], minCalls positive, window at
// least 100ms; otherwise the shared breaker fails closed.
func WithFleetRule(rate float64, minCalls int, window time.Duration) SharedBreakerOption {
	return sharedOption(func(c *sharedConfig) {
		switch {
		case !(rate > 0 && rate <= 1):
			c.fail(configError("WithFleetRule", "rate must be in (0, 1], got %v", rate))
		case minCalls < 1:
			c.fail(configError("WithFleetRule", "minCalls must be positive, got %d", minCalls))
		case window < 100*time.Millisecond:
			c.fail(configError("WithFleetRule", "window must be at least 100ms, got %v", window))
		default:
			c.rate, c.minCalls, c.window = rate, minCalls, window
		}
	})
}

// WithOpenFor sets how long the fleet stays open once tripped (default
// 30s). A d below 10ms makes the shared breaker fail closed.
func WithOpenFor(d time.Duration) SharedBreakerOption {
	return sharedOption(func(c *sharedConfig) {
		if d < 10*time.Millisecond {
			c.fail(configError("WithOpenFor", "must be at least 10ms, got %v", d))
			return
		}
		c.openFor = d
	})
}

// SharedBreaker makes the breakers of every replica open together. Each
// replica keeps its own *breaker.Breaker in its pipeline (breaker.Policy,
// unchanged); the closed-state hot path stays entirely local. Only the
// decision inputs travel: every sync interval ([WithSyncEvery], default 1s)
// a goroutine reads the breaker's totals (Breaker.Snapshot), adds the new
// successes and failures to the fleet's window in Redis, and reads back the
// fleet's state, in one round trip of one Lua script. No lock is ever held
// around a user's call.
//
// The fleet opens when its window breaks [WithFleetRule], or when any
// replica's own breaker opens by its own rules. While the fleet is open
// (for [WithOpenFor], on Redis's clock) each replica's breaker is forced
// open (Breaker.Trip); when the period ends each is reset to closed with an
// empty window (Breaker.Reset), and the fleet's window starts empty too. A
// breaker the user forced open is left alone. Half-open probing is not
// coordinated: after a fleet open period every replica closes, and a dying
// dependency trips the fleet again after minCalls results.
//
// Staleness is bounded by one sync interval plus one round trip: a replica
// learns of a fleet trip that late, and its outcomes reach the fleet that
// late. If Redis fails, each breaker runs on its own local state; a fleet
// open period a replica had applied still ends at its time, by the local
// clock.
//
// The sync goroutine is owned by the SharedBreaker; [SharedBreaker.Close]
// stops it and waits for it. Safe for concurrent use.
type SharedBreaker struct {
	name    string
	be      backend
	b       *breaker.Breaker
	keys    []string
	args    []any // bucket µs, buckets, min calls, rate ppm, open µs
	every   time.Duration
	err     error
	stop    chan struct{} // closed by the first Close
	done    chan struct{} // closed when the sync goroutine exits
	closeMu sync.Once

	mu sync.Mutex // guards the sync state below (sync runs on one goroutine, and SyncNow in tests)
	// lastS, lastF are the breaker totals already reported.
	lastS, lastF int64
	// reported is the Since of the last local open reported.
	reported time.Time
	// forced says the breaker is forced open by the fleet, until forcedEnd.
	forced    bool
	forcedGen int64
	forcedEnd time.Time
}

// NewSharedBreaker shares b's decision inputs with every replica that
// shares a breaker under the same name on the same Redis, and starts the
// sync goroutine; call Close when done. A nil client or b, an empty name or
// an invalid option make it fail closed: it starts nothing and Err reports
// why (b itself keeps working locally). Each round trip is bounded by
// [DefaultTimeout].
func NewSharedBreaker(client redis.UniversalClient, name string, b *breaker.Breaker, opts ...SharedBreakerOption) *SharedBreaker {
	cfg := sharedConfig{common: common{timeout: DefaultTimeout}, every: time.Second,
		rate: 0.5, minCalls: 100, window: 10 * time.Second, openFor: 30 * time.Second}
	for _, o := range opts {
		if o == nil {
			cfg.fail(configError("opts", "nil SharedBreakerOption"))
			continue
		}
		o.applyShared(&cfg)
	}
	s := &SharedBreaker{name: name, be: backend{client: client, timeout: cfg.timeout}, b: b, every: cfg.every, err: cfg.err,
		stop: make(chan struct{}), done: make(chan struct{})}
	switch {
	case s.err != nil:
	case checkClient(client) != nil:
		s.err = checkClient(client)
	case name == "":
		s.err = configError("name", "must not be empty: it is the breaker's identity across replicas")
	case b == nil:
		s.err = configError("b", "nil *breaker.Breaker")
	}
	if s.err != nil {
		close(s.done)
		return s
	}
	prefix := "ion:brk:" + tag(encodeName(name), "") + ":"
	s.keys = []string{prefix + "state", prefix + "window"}
	const buckets = 10
	bucket := max(cfg.window/buckets/time.Microsecond, 1)
	s.args = []any{int64(bucket), buckets, cfg.minCalls, int64(cfg.rate * 1e6), int64(cfg.openFor / time.Microsecond)}
	snap := b.Snapshot()
	s.lastS, s.lastF, s.reported = snap.Successes, snap.Failures, snap.Since
	// Owner: s. Exits when Close closes stop. Joined by Close.
	go s.loop()
	return s
}

// Err returns the configuration error that made the shared breaker fail
// closed, or nil. A zero SharedBreaker, not made by NewSharedBreaker,
// reports one too.
func (s *SharedBreaker) Err() error {
	if s.err == nil && s.stop == nil {
		return errZeroShared
	}
	return s.err
}

var errZeroShared = configError("SharedBreaker", "the zero value is not usable: use NewSharedBreaker")

// Close stops sharing: it stops the sync goroutine and waits for it. The
// breaker keeps its current state. Close is idempotent and returns nil; on
// a zero SharedBreaker, which shares nothing, it returns [SharedBreaker.Err]'s
// error.
func (s *SharedBreaker) Close() error {
	if s.stop == nil {
		return errZeroShared
	}
	s.closeMu.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *SharedBreaker) loop() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		_ = s.sync(context.Background())
	}
}

// sync reports the outcomes since the last sync and applies the fleet's
// state; it returns the backend error, if any.
func (s *SharedBreaker) sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.b.Snapshot()
	ds, df := snap.Successes-s.lastS, snap.Failures-s.lastF
	s.lastS, s.lastF = snap.Successes, snap.Failures
	tripped := 0
	if (snap.State == breaker.Open || snap.State == breaker.HalfOpen) && snap.Since.After(s.reported) && !s.forced {
		tripped = 1
		s.reported = snap.Since
	}
	args := append([]any{ds, df, tripped}, s.args...)
	var vals []int64
	err := s.be.do(ctx, "breaker", func(ctx context.Context) error {
		var err error
		vals, err = shareScript.Run(ctx, s.be.client, s.keys, args...).Int64Slice()
		return err
	})
	now := time.Now()
	if err == nil && len(vals) != 3 {
		err = &BackendError{Op: "breaker", Err: errBadReply}
	}
	if err != nil {
		// Local state only; a fleet open period ends on the local clock.
		if s.forced && !now.Before(s.forcedEnd) {
			s.release(snap)
		}
		return err
	}
	open, gen, left := vals[0] == 1, vals[1], time.Duration(vals[2])*time.Microsecond
	switch {
	case open:
		if !s.forced || gen != s.forcedGen {
			if snap.State != breaker.ForcedOpen || s.forced {
				s.b.Trip()
				s.forced = true
			}
			s.forcedGen = gen
		}
		s.forcedEnd = now.Add(left)
	case s.forced:
		s.release(snap)
	}
	return nil
}

// release ends a fleet open period locally: reset the breaker the fleet
// forced open, unless the user has since changed its state. Must be called
// with s.mu held.
func (s *SharedBreaker) release(snap breaker.Snapshot) {
	s.forced = false
	if snap.State == breaker.ForcedOpen {
		s.b.Reset()
	}
	s.reported = s.b.Snapshot().Since
}

// String describes the shared breaker, as in
// "redis-shared-breaker(payments) sync every 1s".
func (s *SharedBreaker) String() string {
	if err := s.Err(); err != nil {
		return "redis-shared-breaker invalid: " + err.Error()
	}
	return "redis-shared-breaker(" + s.name + ") sync every " + s.every.String()
}
