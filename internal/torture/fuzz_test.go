package torture

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/sem"
)

// Fuzz targets for the public entry points that take numbers, durations,
// strings or headers and that the packages do not fuzz themselves. The
// packages fuzz: limit NewTokenBucket/NewLeakyBucket with AllowN and ReserveN
// (FuzzNewTokenBucket), one MultiTier route pattern (FuzzMultiTier) and the
// rate-limit headers (FuzzHeader); sem NewWeighted with Acquire, TryAcquire
// and Release (FuzzWeighted); breaker every option (FuzzOptions); pool New and
// Resize (FuzzPool); policy Retry's attempts, backoffs and jitter (FuzzRetry),
// NewBudget (FuzzBudget), Timeout (FuzzTimeout) and Hedge (FuzzHedge);
// policytest's scripts; observe's labels. What follows covers the rest. The
// property of each: no panic, no fail-open, and every error matches its
// sentinel.

// rateOf derives a Rate from fuzzed numbers through every Rate
// constructor, so that they are fuzzed too.
func rateOf(kind uint8, x float64, d int64) limit.Rate {
	switch kind % 8 {
	case 0:
		return limit.Rate(x)
	case 1:
		return limit.Per(x, time.Duration(d))
	case 2:
		return limit.Every(time.Duration(d))
	case 3:
		return limit.PerSecond(x)
	case 4:
		return limit.PerMinute(x)
	case 5:
		return limit.PerHour(x)
	case 6:
		return limit.Inf
	}
	return 0
}

// unlimited reports whether r admits everything: Inf, or +Inf itself.
func unlimited(r limit.Rate) bool { return float64(r) >= math.MaxFloat64 }

// invalidRate reports whether r is a rate every constructor and setter must
// refuse.
func invalidRate(r limit.Rate) bool {
	f := float64(r)
	return math.IsNaN(f) || f < 0
}

// sized is the part of TokenBucket and LeakyBucket that the reconfiguration
// fuzz drives; size is the burst or the capacity, fill the tokens or the
// level.
type sized struct {
	lim interface {
		AllowN(time.Time, int) bool
		Err() error
		Rate() limit.Rate
		SetRate(limit.Rate) error
		SetTemporaryLimit(limit.Rate, int, time.Duration) error
		ClearTemporaryLimit()
		String() string
	}
	size    func() int
	setSize func(int) error
	fill    func() float64
	drainTo func(int) // nil for the leaky bucket
}

func sizedLimiters(rate limit.Rate, burst int) []sized {
	tb := limit.NewTokenBucket(rate, burst)
	lb := limit.NewLeakyBucket(rate, burst)
	return []sized{
		{lim: tb, size: tb.Burst, setSize: tb.SetBurst, fill: tb.Tokens, drainTo: tb.DrainTo},
		{lim: lb, size: lb.Capacity, setSize: lb.SetCapacity, fill: lb.Level},
	}
}

// FuzzLimiterReconfigure changes a token bucket's and a leaky bucket's
// limits while they are in use: SetRate, SetBurst/SetCapacity,
// SetTemporaryLimit, ClearTemporaryLimit and DrainTo with arbitrary values
// and Rate constructors, at arbitrary (fake) times. Properties: a refused
// change returns an error matching ion.ErrInvalidConfig and changes nothing;
// an accepted one is in force; a NaN or negative rate is always refused;
// DrainTo never adds tokens; and at any instant no more than the burst in
// force is admitted.
func FuzzLimiterReconfigure(f *testing.F) {
	f.Add(10.0, 5, []byte{0, 1, 2, 3, 4, 5, 6}, 3.5, 7, int64(time.Second))
	f.Add(0.0, 0, []byte{0, 8, 16}, math.NaN(), -1, int64(-1))
	f.Add(1e12, 1<<20, []byte{2, 10, 18, 26}, -1.0, 0, int64(math.MaxInt64))
	f.Add(math.Inf(1), 1, []byte{1, 9, 17, 25, 33, 41, 49}, math.Inf(-1), math.MaxInt, int64(0))
	f.Add(1e-10, 3, []byte{5, 13, 21, 29, 37, 45, 53, 61}, 1e-300, 3, int64(1))
	f.Fuzz(func(t *testing.T, rate float64, burst int, ops []byte, x float64, n int, d int64) {
		if len(ops) > 32 {
			ops = ops[:32]
		}
		synctest.Test(t, func(t *testing.T) {
			for _, l := range sizedLimiters(limit.Rate(rate), burst) {
				if err := l.lim.Err(); err != nil {
					if !errors.Is(err, ion.ErrInvalidConfig) {
						t.Fatalf("%T.Err() = %v, want ErrInvalidConfig", l.lim, err)
					}
					if l.lim.AllowN(time.Now(), 1) {
						t.Fatal("a limiter that failed closed admitted a request")
					}
					continue
				}
				var tempUntil time.Time // when the temporary limit in force ends
				for i, op := range ops {
					temporary := time.Now().Before(tempUntil)
					if time.Now().Equal(tempUntil) {
						continue // the revert is due this instant: either reading is right
					}
					r := rateOf(op>>3, x, d)
					before := [3]float64{float64(l.lim.Rate()), float64(l.size()), l.fill()}
					var err error
					switch op % 8 {
					case 0:
						err = l.lim.SetRate(r)
						if err == nil && !temporary && l.lim.Rate() != r {
							t.Fatalf("op %d: SetRate(%v) = nil, Rate() = %v", i, r, l.lim.Rate())
						}
					case 1:
						err = l.setSize(n)
						if err == nil && !temporary && l.size() != n {
							t.Fatalf("op %d: size set to %d, reads %d", i, n, l.size())
						}
					case 2:
						err = l.lim.SetTemporaryLimit(r, n, time.Duration(d))
						if err == nil {
							tempUntil = time.Now().Add(time.Duration(d))
							if l.lim.Rate() != r || l.size() != n {
								t.Fatalf("op %d: temporary limit %v/%d not in force: %v/%d", i, r, n, l.lim.Rate(), l.size())
							}
						}
					case 3:
						l.lim.ClearTemporaryLimit()
						tempUntil = time.Time{}
					case 4:
						if l.drainTo != nil {
							l.drainTo(n)
							if after := l.fill(); after > before[2] && !math.IsInf(after, 1) {
								t.Fatalf("op %d: DrainTo(%d) raised the tokens from %v to %v", i, n, before[2], after)
							}
						}
					case 5:
						time.Sleep(time.Duration(op) * time.Millisecond)
					case 6, 7:
						l.lim.AllowN(time.Now(), int(op>>3))
					}
					if err != nil {
						if !errors.Is(err, ion.ErrInvalidConfig) {
							t.Fatalf("op %d: a refused change returned %v, want ErrInvalidConfig", i, err)
						}
						if after := [3]float64{float64(l.lim.Rate()), float64(l.size()), l.fill()}; !sameFloats(after, before) {
							t.Fatalf("op %d: a refused change changed rate/size/fill from %v to %v", i, before, after)
						}
					} else if op%8 <= 2 && op%8 != 1 && invalidRate(r) {
						t.Fatalf("op %d: the invalid rate %v was accepted", i, r)
					}
					checkNoBurstOverflow(t, l)
				}
			}
		})
	})
}

func sameFloats(a, b [3]float64) bool {
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// checkNoBurstOverflow takes every token it can at this instant and fails
// if it got more than the size in force.
func checkNoBurstOverflow(t *testing.T, l sized) {
	t.Helper()
	size := l.size()
	if unlimited(l.lim.Rate()) || size > 1<<12 {
		return // unlimited, or too large to count one by one
	}
	now := time.Now()
	got := 0
	for range size + 2 {
		if l.lim.AllowN(now, 1) {
			got++
		}
	}
	if got > size {
		t.Fatalf("%s admitted %d at one instant, above its size %d: it failed open", l.lim, got, size)
	}
}

// waiter is what FuzzWaitN drives: the blocking forms of every limiter.
type waiter struct {
	name  string
	wait  func(ctx context.Context, n int) error
	admit func(ctx context.Context, maxWait time.Duration) error
	take  func(now time.Time) bool // AllowN(now, 1)
	err   func() error
}

func waiters(rate limit.Rate, burst int) []waiter {
	tb, lb := limit.NewTokenBucket(rate, burst), limit.NewLeakyBucket(rate, burst)
	kd := limit.NewKeyed[string](rate, burst)
	mt := httplimit.New(httplimit.WithTier(httplimit.Global, rate, burst), httplimit.WithTier(httplimit.Route, limit.Inf, 0),
		httplimit.WithTier(httplimit.Resource, limit.Inf, 0))
	req := httplimit.Request{Method: "GET", Path: "/a"}
	kdBy := kd.By(func(context.Context) string { return "k" })
	mtBy := mt.By(func(context.Context) httplimit.Request { return req })
	return []waiter{
		{"token-bucket", tb.WaitN, tb.Admit, func(now time.Time) bool { return tb.AllowN(now, 1) }, tb.Err},
		{"leaky-bucket", lb.WaitN, lb.Admit, func(now time.Time) bool { return lb.AllowN(now, 1) }, lb.Err},
		{"keyed", func(ctx context.Context, n int) error { return kd.WaitN(ctx, "k", n) }, kdBy.Admit,
			func(now time.Time) bool { return kd.AllowN(now, "k", 1) }, kd.Err},
		{"multi-tier", func(ctx context.Context, n int) error { return mt.WaitN(ctx, req, n) }, mtBy.Admit,
			func(now time.Time) bool { return mt.AllowN(now, req, 1) }, mt.Err},
	}
}

// FuzzWaitN calls WaitN and Admit of every limiter (token bucket, leaky
// bucket, keyed, multi-tier) with arbitrary counts, ctx deadlines and max
// waits, in a synctest bubble where waits are exact. Properties: a negative
// n returns ErrNegativeN and an n above the burst ErrExceedsBurst, at once;
// a wait that cannot end before the deadline or the max wait fails at once
// with a *LimitedError; nothing outlasts its deadline or max wait; and a
// refused request changes nothing (golang/go#52584): once the burst has had
// time to refill, the limiter admits exactly what a twin that never saw the
// request admits.
func FuzzWaitN(f *testing.F) {
	f.Add(10.0, 5, 3, int64(time.Second), int64(0))
	f.Add(10.0, 5, 6, int64(0), int64(time.Millisecond))
	f.Add(1.0, 1, -1, int64(time.Millisecond), int64(time.Hour))
	f.Add(0.0, 2, 2, int64(-1), int64(1))
	f.Add(1e-9, 1, 1, int64(math.MaxInt64), int64(math.MaxInt64))
	f.Add(math.NaN(), 1, 1, int64(1), int64(1))
	f.Add(1000.0, 100, 50, int64(20*time.Millisecond), int64(30*time.Millisecond))
	// A wait past the end of representable time: refusing it must not move
	// the buckets' windows (it made the multi-tier admit more afterwards).
	f.Add(2.5e-9, 90, 14, int64(math.MaxInt64-161), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, rate float64, burst, n int, deadline, maxWait int64) {
		if burst > 1<<12 {
			burst %= 1 << 12 // the twins are compared token by token
		}
		synctest.Test(t, func(t *testing.T) {
			// Each limiter kind is tried twice, with WaitN(n) and with
			// Admit(maxWait), each time beside an untouched twin.
			for step := range 2 {
				subjects, twins := waiters(limit.Rate(rate), burst), waiters(limit.Rate(rate), burst)
				for i, s := range subjects {
					tw := twins[i]
					if cfg := s.err(); cfg != nil {
						if !errors.Is(cfg, ion.ErrInvalidConfig) || !errors.Is(s.wait(context.Background(), 1), ion.ErrInvalidConfig) {
							t.Fatalf("%s failed closed with %v, but WaitN does not return it", s.name, cfg)
						}
						continue
					}
					for now := time.Now(); s.take(now); { // spend the burst, so that waits are real
						tw.take(now)
					}
					ctx, cancel := context.Background(), context.CancelFunc(func() {})
					if deadline > 0 {
						ctx, cancel = context.WithTimeout(ctx, time.Duration(deadline))
					}
					start := time.Now()
					var err error
					if step == 0 {
						err = s.wait(ctx, n)
					} else {
						err = s.admit(ctx, time.Duration(maxWait))
					}
					waited := time.Since(start)
					cancel()
					checkWait(t, s.name, step, limit.Rate(rate), burst, n, deadline, maxWait, err, waited)
					if err == nil {
						continue
					}
					// A refusal: give the burst time to refill, then compare.
					refill := time.Hour
					if r := float64(rate); r > 0 && float64(burst)/r < refill.Seconds() {
						refill = time.Duration(float64(burst)/r*float64(time.Second)) + time.Millisecond
					}
					time.Sleep(refill)
					now := time.Now()
					var a, b int
					for range burst + 2 {
						if s.take(now) {
							a++
						}
						if tw.take(now) {
							b++
						}
					}
					if a != b {
						t.Fatalf("%s: the refused request (%v) changed the limiter: it admits %d, an untouched twin %d", s.name, err, a, b)
					}
				}
			}
		})
	})
}

// checkWait checks the result of one WaitN(n) (step 0) or Admit(maxWait)
// (step 1) on a limiter whose burst was spent.
func checkWait(t *testing.T, name string, step int, rate limit.Rate, burst, n int, deadline, maxWait int64, err error, waited time.Duration) {
	t.Helper()
	if step == 1 {
		n = 1
	}
	switch {
	case n < 0 && !errors.Is(err, limit.ErrNegativeN):
		t.Fatalf("%s: WaitN(%d) = %v, want ErrNegativeN", name, n, err)
	case n > burst && !unlimited(rate) && !errors.Is(err, limit.ErrExceedsBurst):
		t.Fatalf("%s: WaitN(%d) with burst %d = %v, want ErrExceedsBurst", name, n, burst, err)
	case err != nil && !errorsIsAny(err, limit.ErrNegativeN, limit.ErrExceedsBurst, limit.ErrLimited):
		t.Fatalf("%s: step %d = %v: not a sentinel of the limiter", name, step, err)
	case err != nil && waited != 0:
		t.Fatalf("%s: step %d failed with %v after waiting %v, want at once", name, step, err, waited)
	case deadline > 0 && waited >= time.Duration(deadline):
		t.Fatalf("%s: step %d waited %v, not strictly before the ctx deadline %v", name, step, waited, time.Duration(deadline))
	case step == 1 && waited > max(time.Duration(maxWait), 0):
		t.Fatalf("%s: Admit waited %v, above its max wait %v", name, waited, time.Duration(maxWait))
	case errors.Is(err, limit.ErrLimited):
		if ra, ok := ion.RetryAfter(err); !ok || ra < 0 {
			t.Fatalf("%s: a rate-limit rejection %v carries no delay", name, err)
		}
	}
}

// FuzzKeyed builds keyed limiters with arbitrary rates, bursts, key bounds
// and idle TTLs and feeds them arbitrary keys and counts. Properties: an
// invalid setting fails closed; the number of keys remembered never exceeds
// WithMaxKeys; while the keys fit, no key is admitted more than its burst at
// one instant; bad counts return their sentinels.
func FuzzKeyed(f *testing.F) {
	f.Add(10.0, 3, 4, int64(0), "abcabcdefg", 1)
	f.Add(1.0, 1, 1, int64(time.Millisecond), "aaaa", 2)
	f.Add(-1.0, 1, 0, int64(-1), "", -1)
	f.Add(math.Inf(1), 0, 1<<30, int64(math.MaxInt64), "\x00\xff", math.MaxInt)
	f.Fuzz(func(t *testing.T, rate float64, burst, maxKeys int, ttl int64, keys string, n int) {
		if len(keys) > 256 {
			keys = keys[:256]
		}
		lim := limit.NewKeyed[byte](limit.Rate(rate), burst, limit.WithMaxKeys(maxKeys), limit.WithIdleTTL(time.Duration(ttl)))
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := lim.Err(); err != nil {
			if !errors.Is(err, ion.ErrInvalidConfig) {
				t.Fatalf("Err() = %v", err)
			}
			if lim.AllowN(now, 'k', 1) || lim.Len() != 0 {
				t.Fatal("a keyed limiter that failed closed admitted a request")
			}
			return
		}
		taken := map[byte]int{}
		distinct := map[byte]bool{}
		for i := 0; i < len(keys); i++ {
			k := keys[i]
			distinct[k] = true
			m := 1
			if i%3 == 2 {
				m = n
			}
			if lim.AllowN(now, k, m) && m > 0 {
				taken[k] += m
			}
			if l := lim.Len(); l > maxKeys {
				t.Fatalf("Len() = %d, above WithMaxKeys(%d)", l, maxKeys)
			}
		}
		if !unlimited(limit.Rate(rate)) && len(distinct) <= maxKeys {
			for k, got := range taken {
				if got > burst {
					t.Fatalf("key %q was admitted %d tokens at one instant, burst %d", k, got, burst)
				}
			}
		}
		ctx := context.Background()
		if err := lim.WaitN(ctx, 'z', -1); !errors.Is(err, limit.ErrNegativeN) {
			t.Fatalf("WaitN(-1) = %v, want ErrNegativeN", err)
		}
		if !unlimited(limit.Rate(rate)) && burst < math.MaxInt {
			if err := lim.WaitN(ctx, 'z', burst+1); !errors.Is(err, limit.ErrExceedsBurst) {
				t.Fatalf("WaitN(burst+1) = %v, want ErrExceedsBurst", err)
			}
		}
	})
}

// FuzzMultiTierRoutes builds multi-tier limiters from two arbitrary route
// patterns, arbitrary major parameters and an arbitrary tier (scope, rate,
// burst), and routes arbitrary requests with arbitrary counts. Properties: a
// bad option fails closed; route keys are deterministic; the global burst is
// never exceeded at one instant; and admission is all-or-nothing: requests
// refused by some tier change nothing, so a twin limiter that never saw them
// admits exactly as much afterwards.
func FuzzMultiTierRoutes(f *testing.F) {
	f.Add("GET /api/{v}/users/{id}", "/api/v1/{x}", "id,v", uint8(2), 5.0, 2, "GET", "/api/v1/users/42", "sub", 1)
	f.Add("/{a}/{a}", "POST /x", "", uint8(4), 1.0, 1, "post", "/x?y=1", "", 2)
	f.Add("{", "/ok", "a", uint8(9), 1.0, 1, "", "", "", 0)
	f.Add("/a/{b}/c", "/a/{b}/{c}", ",,", uint8(0), math.Inf(1), 0, "DELETE", "//a//b/c/", "s", -3)
	f.Fuzz(func(t *testing.T, p1, p2, majors string, scope uint8, rate float64, burst int, method, path, sub string, n int) {
		build := func() *httplimit.MultiTier {
			return httplimit.New(
				httplimit.WithTier(httplimit.Global, limit.PerHour(1), 4),
				httplimit.WithTier(httplimit.SubResource, limit.PerHour(1), 1),
				httplimit.WithTier(httplimit.Scope(scope), limit.Rate(rate), burst),
				httplimit.WithRoute(p1, limit.PerHour(1), 2),
				httplimit.WithRoute(p2, limit.PerHour(1), 3),
				httplimit.WithMajorParams(strings.Split(majors, ",")...),
			)
		}
		m, twin := build(), build()
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		req := httplimit.Request{Method: method, Path: path, ResourceID: "r", SubResourceID: sub, UserID: sub}
		if err := m.Err(); err != nil {
			if !errors.Is(err, ion.ErrInvalidConfig) {
				t.Fatalf("Err() = %v, want ErrInvalidConfig", err)
			}
			if m.AllowN(now, req, 1) {
				t.Fatal("a limiter that failed closed admitted a request")
			}
			if err := m.WaitN(context.Background(), req, 1); !errors.Is(err, ion.ErrInvalidConfig) {
				t.Fatalf("WaitN on a limiter that failed closed = %v", err)
			}
			return
		}
		if k1, k2 := m.RouteKey(req), twin.RouteKey(req); k1 != k2 {
			t.Fatalf("RouteKey(%+v) = %q, then %q: not deterministic", req, k1, k2)
		}
		globalBurst := 4
		if httplimit.Scope(scope) == httplimit.Global {
			globalBurst = burst
			if unlimited(limit.Rate(rate)) {
				globalBurst = math.MaxInt
			}
		}
		// The subject sees req n times with count n; every admission is
		// mirrored on the twin, every refusal is not.
		admitted := 0
		for i := range 4 {
			c := 1
			if i%2 == 1 {
				c = n
			}
			if m.AllowN(now, req, c) {
				if c > 0 {
					admitted += c
				}
				if !twin.AllowN(now, req, c) {
					t.Fatalf("the twin refused what the subject admitted: AllowN(%+v, %d)", req, c)
				}
			}
		}
		if admitted > globalBurst {
			t.Fatalf("admitted %d at one instant, above the global burst %d", admitted, globalBurst)
		}
		probe := httplimit.Request{Method: "GET", Path: "/probe/" + path, UserID: "other"}
		var a, b int
		for range 6 {
			if m.AllowN(now, probe, 1) {
				a++
			}
			if twin.AllowN(now, probe, 1) {
				b++
			}
		}
		if a != b {
			t.Fatalf("refused requests changed the limiter: it admits %d more, an untouched twin %d", a, b)
		}
	})
}

// FuzzSemOptions builds semaphores and bulkheads from arbitrary capacities,
// acquire timeouts, fairness values, names, weights and max waits, and
// acquires from a full semaphore in a synctest bubble. Properties: invalid
// settings fail closed (nothing runs); bad weights return their sentinels at
// once; a wait ends exactly at the acquire timeout (ErrFull,
// ion.ErrRejected and context.DeadlineExceeded) or at the ctx deadline (its
// error); a full bulkhead rejects with ErrFull; and every permit comes back.
func FuzzSemOptions(f *testing.F) {
	f.Add(int64(4), int64(time.Millisecond), uint8(0), "db", int64(1), int64(0), int64(2))
	f.Add(int64(1), int64(0), uint8(1), "", int64(2), int64(-1), int64(-1))
	f.Add(int64(-3), int64(-1), uint8(7), "\x00", int64(0), int64(time.Second), int64(0))
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), uint8(2), "a b", int64(math.MaxInt64), int64(1), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, capacity, timeout int64, fairness uint8, name string, weight, maxWait, n int64) {
		synctest.Test(t, func(t *testing.T) {
			s := sem.NewWeighted(capacity, sem.WithAcquireTimeout(time.Duration(timeout)),
				sem.WithFairness(sem.Fairness(fairness%5)), sem.WithName(name))
			bulkhead := policy.Compose(sem.Policy[int](s, sem.WithWeight(weight), sem.WithMaxWait(time.Duration(maxWait))))
			ran := 0
			fn := func(context.Context) (int, error) { ran++; return 1, nil }
			if err := s.Err(); err != nil {
				if !errors.Is(err, ion.ErrInvalidConfig) || !errors.Is(s.Acquire(context.Background(), 1), ion.ErrInvalidConfig) ||
					s.TryAcquire(1) {
					t.Fatalf("a semaphore that failed closed (%v) let a caller in", err)
				}
				if _, err := bulkhead.Run(context.Background(), fn); !errors.Is(err, ion.ErrInvalidConfig) || ran != 0 {
					t.Fatalf("the bulkhead of a semaphore that failed closed ran (%v)", err)
				}
				return
			}
			validBulkhead := weight >= 1 && weight <= capacity && maxWait >= 0
			_, err := bulkhead.Run(context.Background(), fn)
			switch {
			case validBulkhead && (err != nil || ran != 1):
				t.Fatalf("bulkhead(weight %d, max wait %d) on a free semaphore = %v, ran %d", weight, maxWait, err, ran)
			case !validBulkhead && (!errors.Is(err, ion.ErrInvalidConfig) || ran != 0):
				t.Fatalf("an invalid bulkhead(weight %d, max wait %d) = %v, ran %d; want ErrInvalidConfig", weight, maxWait, err, ran)
			}
			if name != "" && validBulkhead && !strings.Contains(fmt.Sprint(bulkhead), name) {
				t.Fatalf("the bulkhead's String %q does not name its semaphore %q", fmt.Sprint(bulkhead), name)
			}
			if !s.TryAcquire(capacity) {
				t.Fatal("TryAcquire(capacity) on a free semaphore failed")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			start := time.Now()
			err = s.Acquire(ctx, n)
			waited := time.Since(start)
			cancel()
			switch {
			case n < 0:
				if !errors.Is(err, sem.ErrInvalidWeight) || waited != 0 {
					t.Fatalf("Acquire(%d) = %v after %v, want ErrInvalidWeight at once", n, err, waited)
				}
			case n > capacity:
				if !errors.Is(err, sem.ErrWeightExceedsCapacity) || waited != 0 {
					t.Fatalf("Acquire(%d) = %v after %v, want ErrWeightExceedsCapacity at once", n, err, waited)
				}
			case n == 0:
				if err != nil || waited != 0 {
					t.Fatalf("Acquire(0) = %v after %v, want nil at once", err, waited)
				}
			case timeout > 0 && time.Duration(timeout) < time.Hour:
				if !errors.Is(err, sem.ErrFull) || !errors.Is(err, ion.ErrRejected) || !errors.Is(err, context.DeadlineExceeded) ||
					waited != time.Duration(timeout) {
					t.Fatalf("Acquire(%d) on a full semaphore = %v after %v, want ErrFull at the acquire timeout %v",
						n, err, waited, time.Duration(timeout))
				}
			default:
				if !errors.Is(err, context.DeadlineExceeded) || waited != time.Hour {
					t.Fatalf("Acquire(%d) on a full semaphore = %v after %v, want the ctx's deadline after 1h", n, err, waited)
				}
			}
			if validBulkhead {
				start = time.Now()
				_, err = bulkhead.Run(context.Background(), fn)
				if !errors.Is(err, sem.ErrFull) || ran != 1 {
					t.Fatalf("a full bulkhead = %v (ran %d), want ErrFull without running", err, ran)
				}
				if w := time.Since(start); maxWait == 0 && w != 0 || maxWait > 0 && w != time.Duration(maxWait) {
					t.Fatalf("a full bulkhead with max wait %v rejected after %v", time.Duration(maxWait), w)
				}
			}
			if err := s.Release(capacity); err != nil {
				t.Fatalf("Release(%d) of the permits taken = %v", capacity, err)
			}
			if s.Available() != capacity || s.Waiting() != 0 {
				t.Fatalf("after the release: %d available of %d, %d waiting", s.Available(), capacity, s.Waiting())
			}
		})
	})
}

// FuzzPoolOptions builds pools with arbitrary sizes, queue sizes, max
// queue waits, queue orders and names, and drives them with a script of
// submissions of tasks that take fake time, in a synctest bubble.
// Properties: an invalid option fails closed everywhere; after Close every
// accepted task either ran exactly once or was reported (expired, or not
// started because its submitter's deadline passed while it was queued),
// and the pool's counters say the same.
func FuzzPoolOptions(f *testing.F) {
	f.Add(2, 1, int64(time.Millisecond), uint8(0), "p", []byte{3, 3, 3, 3, 0, 9, 1})
	f.Add(1, 0, int64(0), uint8(1), "", []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(0, -1, int64(-1), uint8(2), "x", []byte{})
	f.Add(1<<20, 1<<20, int64(math.MaxInt64), uint8(1), "\xff", []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, size, queue int, qwait int64, order uint8, name string, script []byte) {
		if len(script) > 48 {
			script = script[:48]
		}
		synctest.Test(t, func(t *testing.T) {
			var reported, ran atomic.Int64
			p := pool.New(size, queue, pool.WithMaxQueueWait(time.Duration(qwait)), pool.WithQueueOrder(pool.Order(order%3)),
				pool.WithName(name), pool.WithDiscardHandler(func(_ context.Context, _ pool.Task, err error) {
					// Expired in the queue, or not started because its
					// submitter's deadline passed while it was queued.
					if !errors.Is(err, pool.ErrExpired) && !errors.Is(err, pool.ErrNotStarted) {
						t.Errorf("a task was reported with %v, want ErrExpired or ErrNotStarted", err)
					}
					reported.Add(1)
				}))
			ctx := context.Background()
			if err := p.Err(); err != nil {
				for _, e := range []error{err, p.TrySubmit(func(context.Context) error { return nil }), p.Resize(1)} {
					if !errors.Is(e, ion.ErrInvalidConfig) {
						t.Fatalf("a pool that failed closed returned %v", e)
					}
				}
				if _, e := pool.Go(ctx, p, func(context.Context) (int, error) { return 0, nil }); !errors.Is(e, ion.ErrInvalidConfig) {
					t.Fatalf("Go on a pool that failed closed = %v", e)
				}
				return
			}
			var accepted int64
			for _, op := range script {
				d := time.Duration(op>>2) * time.Millisecond
				task := func(context.Context) error { ran.Add(1); time.Sleep(d); return nil }
				var err error
				switch op % 4 {
				case 0:
					err = p.TrySubmit(task)
				case 1:
					sctx, cancel := context.WithTimeout(ctx, d+1)
					err = p.Submit(sctx, task)
					cancel()
				case 2:
					time.Sleep(d)
					continue
				case 3:
					if err = p.Resize(int(op>>2)%4 - 1); err != nil && !errors.Is(err, ion.ErrInvalidConfig) {
						t.Fatalf("Resize = %v", err)
					}
					continue
				}
				switch {
				case err == nil:
					accepted++
				case !errors.Is(err, pool.ErrQueueFull) && !errors.Is(err, context.DeadlineExceeded):
					t.Fatalf("a submission was refused with %v", err)
				}
			}
			if n, err := p.Close(ctx); n != 0 || err != nil {
				t.Fatalf("Close = %d, %v", n, err)
			}
			m := p.Snapshot()
			if ran.Load()+reported.Load() != accepted || int64(m.Completed) != ran.Load() ||
				int64(m.Expired+m.Discarded) != reported.Load() {
				t.Fatalf("accepted %d, ran %d, reported %d; the pool says %+v", accepted, ran.Load(), reported.Load(), m)
			}
			if name != "" && p.String() != "pool("+name+")" {
				t.Fatalf("String() = %q for the name %q", p.String(), name)
			}
			if qwait <= 0 && m.Expired != 0 {
				t.Fatal("tasks expired without a max queue wait")
			}
		})
	})
}

// FuzzRetryBounds runs an always-failing call through a Retry with
// arbitrary attempt counts (or unlimited), max durations, backoffs and ctx
// deadlines, in a synctest bubble. Properties: invalid settings, and
// unlimited attempts with no bound, fail closed without calling; a retry
// never sleeps past the ctx deadline, never starts an attempt after its max
// duration, makes at most its attempts, and returns an error matching the
// last failure and its reason.
func FuzzRetryBounds(f *testing.F) {
	f.Add(3, false, int64(0), int64(0), int64(time.Millisecond), int64(time.Second), uint8(1), uint64(1))
	f.Add(0, true, int64(50*time.Millisecond), int64(0), int64(time.Millisecond), int64(10*time.Millisecond), uint8(3), uint64(2))
	f.Add(5, false, int64(-1), int64(20*time.Millisecond), int64(time.Millisecond), int64(time.Second), uint8(0), uint64(3))
	f.Add(0, true, int64(0), int64(0), int64(0), int64(0), uint8(2), uint64(4))
	f.Add(9, false, int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), uint8(1), uint64(5))
	f.Fuzz(func(t *testing.T, attempts int, unlimited bool, maxDur, deadline, initial, maxDelay int64, jitter uint8, seed uint64) {
		// Bound the fake time a run may span, so that unlimited retries end.
		maxDur %= int64(time.Second)
		deadline %= int64(time.Second)
		opts := []policy.RetryOption{policy.WithBackoff(policy.Exponential(time.Duration(initial), time.Duration(maxDelay))),
			policy.WithJitter(policy.Jitter(jitter % 5)), policy.WithSeed(seed), policy.WithMaxDuration(time.Duration(maxDur))}
		if unlimited {
			opts = append(opts, policy.WithUnlimitedAttempts())
		} else {
			opts = append(opts, policy.WithAttempts(attempts%10))
		}
		r := policy.Retry[int](opts...)
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if deadline > 0 {
				ctx, cancel = context.WithTimeout(ctx, time.Duration(deadline))
			}
			defer cancel()
			var starts []time.Duration
			start := time.Now()
			_, err := policy.Run(ctx, r, func(ctx context.Context) (int, error) {
				starts = append(starts, time.Since(start))
				select { // each attempt takes 1ms, or until its ctx ends
				case <-time.After(time.Millisecond):
					return 0, errInjected
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			})
			elapsed := time.Since(start)
			if r.Err() != nil || unlimited && maxDur == 0 && deadline <= 0 {
				if !errors.Is(err, ion.ErrInvalidConfig) || len(starts) != 0 {
					t.Fatalf("an invalid or unbounded retry returned %v after %d calls, want ErrInvalidConfig at once", err, len(starts))
				}
				return
			}
			if len(starts) == 0 {
				t.Fatalf("a valid retry never called: %v", err)
			}
			if !unlimited && len(starts) > attempts%10 {
				t.Fatalf("%d calls, above WithAttempts(%d)", len(starts), attempts%10)
			}
			if deadline > 0 && elapsed > time.Duration(deadline) {
				t.Fatalf("the call took %v, past the ctx deadline %v", elapsed, time.Duration(deadline))
			}
			if maxDur > 0 {
				for i, s := range starts[1:] {
					if s >= time.Duration(maxDur) {
						t.Fatalf("attempt %d started at %v, past the max duration %v", i+2, s, time.Duration(maxDur))
					}
				}
			}
			if !errors.Is(err, errInjected) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the retry returned %v, want the last failure or the deadline", err)
			}
			// Retry gives its reason, unless the caller's deadline had passed
			// when the last attempt returned: then its result is the caller's
			// own business (Ignored) and comes back unchanged.
			if ctx.Err() == nil && !errorsIsAny(err, policy.ErrRetriesExhausted, policy.ErrRetryDeadline) {
				t.Fatalf("the retry returned %v: no reason", err)
			}
		})
	})
}

func errorsIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// FuzzHedgeFunc runs calls through HedgeFunc with arbitrary per-hedge
// delays (negative, zero, huge) and hedge counts, attempts taking
// arbitrary fake time. Properties: a bad count fails closed; hedge n starts
// exactly max(delay(n), 0) after attempt n (a negative delay counting as 0)
// and never after the call has a winner; the result is one attempt's; no
// goroutine is left (the bubble would deadlock).
func FuzzHedgeFunc(f *testing.F) {
	f.Add([]byte{1, 2, 3}, int64(-5), 3, []byte{9, 1, 1, 1})
	f.Add([]byte{}, int64(math.MaxInt64), 1, []byte{0})
	f.Add([]byte{255}, int64(math.MinInt64), 0, []byte{})
	f.Add([]byte{0, 0}, int64(0), 8, []byte{3, 3, 3, 3, 3, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, delays []byte, scale int64, hedges int, latencies []byte) {
		delayOf := func(n int) time.Duration {
			if len(delays) == 0 {
				return time.Duration(scale)
			}
			return time.Duration(int8(delays[(n-1)%len(delays)])) * time.Millisecond
		}
		h := policy.HedgeFunc[int](delayOf, policy.WithHedges(hedges%10))
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			var mu sync.Mutex
			began := map[int]time.Duration{} // attempt number → start; guarded by mu
			v, err := policy.Run(context.Background(), h, func(ctx context.Context) (int, error) {
				n := policy.Attempt(ctx)
				mu.Lock()
				began[n] = time.Since(start)
				mu.Unlock()
				lat := time.Duration(0)
				if len(latencies) > 0 {
					lat = time.Duration(latencies[(n-1)%len(latencies)]) * time.Millisecond
				}
				select {
				case <-time.After(lat):
				case <-ctx.Done():
					return 0, ctx.Err()
				}
				if lat%2 == 1 {
					return 0, errInjected
				}
				return n, nil
			})
			end := time.Since(start)
			if h.Err() != nil {
				if !errors.Is(err, ion.ErrInvalidConfig) || len(began) != 0 {
					t.Fatalf("an invalid HedgeFunc returned %v after %d attempts", err, len(began))
				}
				return
			}
			switch {
			case err == nil && (v < 1 || v > 1+hedges%10 || v > len(began)):
				t.Fatalf("result %d is not from one of the %d attempts", v, len(began))
			case err != nil && !errors.Is(err, errInjected):
				t.Fatalf("unexpected error %v", err)
			}
			for n := 2; n <= len(began); n++ {
				prev, ok1 := began[n-1]
				cur, ok2 := began[n]
				if !ok1 || !ok2 {
					t.Fatalf("attempts %v are not numbered 1..%d", began, len(began))
				}
				if want := prev + max(delayOf(n-1), 0); cur != want {
					t.Fatalf("hedge %d started at %v, want %v (attempt %d at %v, delay %v)", n-1, cur, want, n-1, prev, delayOf(n-1))
				}
				if cur > end {
					t.Fatalf("attempt %d started at %v, after the call ended at %v", n, cur, end)
				}
			}
		})
	})
}

// FuzzRetryAfter builds error chains of rejections carrying arbitrary
// delays, wrapped by fmt.Errorf, errors.Join, a RetryError and an
// OpenError's sentinel, and builds ConfigErrors from arbitrary text.
// Properties: ion.RetryAfter never reports a negative delay, reports one
// exactly when a rejection with a delay is in the chain, and that delay is
// one of them; a ConfigError of any text matches ion.ErrInvalidConfig and
// names its package and parameter.
func FuzzRetryAfter(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, int64(time.Second), int64(-1), "limit", "burst", "got %d %s %v")
	f.Add([]byte{}, int64(0), int64(0), "", "", "")
	f.Add([]byte{2, 2, 2, 0}, int64(math.MinInt64), int64(math.MaxInt64), "%", "%!", "%[9]d%*d")
	f.Fuzz(func(t *testing.T, shape []byte, d1, d2 int64, pkg, param, format string) {
		if len(shape) > 16 {
			shape = shape[:16]
		}
		var err error = errInjected
		var delays []time.Duration
		for i, s := range shape {
			d := time.Duration(d1)
			if i%2 == 1 {
				d = time.Duration(d2)
			}
			switch s % 5 {
			case 0:
				err = errors.Join(err, &limit.LimitedError{Delay: d})
				delays = append(delays, d)
			case 1:
				err = fmt.Errorf("layer %d: %w", i, err)
			case 2:
				err = errors.Join(errInjected, err)
			case 3:
				err = &policy.RetryError{Reason: policy.ErrRetriesExhausted, Attempts: i, Err: err}
			case 4:
				err = fmt.Errorf("%w: %w", breaker.ErrOpen, err)
			}
		}
		got, ok := ion.RetryAfter(err)
		if got < 0 {
			t.Fatalf("RetryAfter(%v) = %v: negative", err, got)
		}
		if ok != (len(delays) > 0) {
			t.Fatalf("RetryAfter(%v) found=%v, with %d delays in the chain", err, ok, len(delays))
		}
		if ok {
			found := false
			for _, d := range delays {
				found = found || got == max(d, 0)
			}
			if !found {
				t.Fatalf("RetryAfter = %v, none of the delays %v", got, delays)
			}
		}
		ce := ion.NewConfigError(pkg, param, format, d1, pkg, err)
		if !errors.Is(ce, ion.ErrInvalidConfig) || !strings.HasPrefix(ce.Error(), pkg+": invalid configuration: "+param+": ") {
			t.Fatalf("NewConfigError(%q, %q, ...) = %v", pkg, param, ce)
		}
		if errors.Is(fmt.Errorf("wrapped: %w", ce), ion.ErrRejected) {
			t.Fatal("a configuration error matches ion.ErrRejected")
		}
	})
}

// FuzzComposedPipeline composes the torture's layers in an arbitrary order
// (any of F R B L W S Q P T A H, repeated or nested) and drives the pipeline
// with a few dozen callers in a synctest bubble, with every fault and the
// controller's SetRate, Resize and Close. Properties: the invariants of the
// torture scenarios, whatever the order.
func FuzzComposedPipeline(f *testing.F) {
	f.Add([]byte("FRBLST"), uint64(1), uint8(20))
	f.Add([]byte("RBPQT"), uint64(2), uint8(30))
	f.Add([]byte("HPHPB"), uint64(3), uint8(10))
	f.Add([]byte("A(BB)(LW)SQ"), uint64(4), uint8(25))
	f.Add([]byte("TTTRRRFFF"), uint64(5), uint8(5))
	f.Fuzz(func(t *testing.T, raw []byte, seed uint64, callers uint8) {
		spec := specOf(raw)
		n := 2 + int(callers)%40
		synctest.Test(t, func(t *testing.T) {
			w := newWorld(true, seed, int64(n*callsPerCaller(true)), seed%2 == 0)
			p := w.pipeline(spec)
			if err := p.Err(); err != nil {
				t.Fatalf("%q: %v", spec, err)
			}
			w.start = time.Now()
			stop, stopped := make(chan struct{}), make(chan struct{})
			// Owner: this run. Exit: when stop is closed. Join: <-stopped.
			go func() {
				defer close(stopped)
				w.control(stop)
			}()
			w.drive(p, n)
			close(stop)
			<-stopped
			end := time.Now()
			w.settle()
			w.check(t, w.start, end)
			if t.Failed() {
				t.Logf("spec %q", spec)
			}
		})
	})
}

// specOf maps fuzzed bytes to a spec of at most 10 layers with balanced
// parentheses and at most two retries and two hedges, whose attempts
// multiply.
func specOf(raw []byte) string {
	var b strings.Builder
	depth, layers := 0, 0
	seen := map[byte]int{}
	for _, c := range raw {
		if layers == 10 {
			break
		}
		if strings.IndexByte(layerLetters, c) < 0 && c != '(' && c != ')' {
			c = layerLetters[int(c)%len(layerLetters)]
		}
		if (c == 'R' || c == 'H') && seen[c] == 2 {
			c = 'T'
		}
		seen[c]++
		switch {
		case c == '(' && depth < 3:
			b.WriteByte('(')
			depth++
		case c == ')' && depth > 0:
			b.WriteByte(')')
			depth--
		case c != '(' && c != ')':
			b.WriteByte(c)
			layers++
		}
	}
	for ; depth > 0; depth-- {
		b.WriteByte(')')
	}
	return b.String()
}
