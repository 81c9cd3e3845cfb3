package adaptive_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/policy"
)

// dep is a dependency with capacity c: a call that starts while n calls are
// in progress (itself included) takes base × max(1, n/c), as on a server
// whose c workers share the excess.
type dep struct {
	base time.Duration
	mu   sync.Mutex // guards the fields below
	c, n int
}

func (d *dep) setCapacity(c int) { d.mu.Lock(); d.c = c; d.mu.Unlock() }

func (d *dep) call(context.Context) (int, error) {
	d.mu.Lock()
	d.n++
	f := max(1, float64(d.n)/float64(d.c))
	d.mu.Unlock()
	time.Sleep(time.Duration(f * float64(d.base)))
	d.mu.Lock()
	d.n--
	d.mu.Unlock()
	return 0, nil
}

// drive runs workers closed-loop callers through p against d until stop is
// closed; a rejected caller backs off for a millisecond. It returns when
// every worker has stopped.
func drive(p policy.Policy[int], d *dep, workers int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() { // owner: drive; exits when stop is closed; joined by wg.Wait
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := policy.Run(context.Background(), p, d.call); err != nil {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
}

// TestLimiterConvergesAndRecovers drives a dependency of capacity 20 with
// three times as many callers, halves its capacity, then restores it. The
// limit settles at the knee of the latency curve (the capacity plus the
// few calls the algorithm lets queue) within 8 sample windows of each
// change.
func TestLimiterConvergesAndRecovers(t *testing.T) {
	for _, tc := range []struct {
		alg adaptive.Algorithm
		// queue is the most calls the algorithm lets wait at the
		// dependency of capacity 20: Vegas's band, Gradient's 50 %
		// tolerance plus √limit.
		queue int
	}{{adaptive.Vegas, 10}, {adaptive.Gradient, 20}} {
		alg := tc.alg
		t.Run(alg.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const window = 100 * time.Millisecond
				lim := adaptive.NewLimiter(adaptive.WithAlgorithm(alg), adaptive.WithSampleWindow(window, 10), adaptive.WithInitialLimit(5))
				d := &dep{base: 10 * time.Millisecond, c: 20}
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() { drive(adaptive.Policy[int](lim), d, 60, stop); close(done) }() // joined by <-done
				trace := func(phase string, from time.Duration, to time.Duration) (lo, hi int) {
					lo, hi = 1<<30, 0
					for at := from; at < to; at += window {
						time.Sleep(window)
						l := lim.Stats().Limit
						lo, hi = min(lo, l), max(hi, l)
					}
					t.Logf("%s: limit %d..%d, stats %+v", phase, lo, hi, lim.Stats())
					return lo, hi
				}
				lo, hi := trace("converging from 5", 0, 2*time.Second)
				assert.GreaterOrEqual(t, hi, 20, "the limit grows to the capacity")
				_ = lo
				lo, hi = trace("healthy", 0, 3*time.Second)
				assert.GreaterOrEqual(t, lo, 18, "healthy: the limit stays near the capacity 20")
				assert.LessOrEqual(t, hi, 20+tc.queue, "healthy: the limit lets only a few calls queue")

				d.setCapacity(10)
				trace("halving, first 8 windows", 0, 8*window)
				lo, hi = trace("halved", 0, 3*time.Second)
				assert.GreaterOrEqual(t, lo, 8, "halved: the limit stays near the capacity 10")
				assert.LessOrEqual(t, hi, 10+tc.queue, "halved: the limit came down within 8 windows")

				d.setCapacity(20)
				trace("recovering, first 8 windows", 0, 8*window)
				lo, hi = trace("recovered", 0, 3*time.Second)
				assert.GreaterOrEqual(t, lo, 18, "recovered: the limit grew back within 8 windows")
				assert.LessOrEqual(t, hi, 20+tc.queue)
				close(stop)
				<-done
				assert.Zero(t, lim.Stats().InFlight, "every permit came back")
			})
		})
	}
}

// hold runs a call through p that holds its permit until release is
// closed, and returns once it runs.
func hold(t *testing.T, p policy.Policy[int], ctx context.Context, release <-chan struct{}, wg *sync.WaitGroup) {
	t.Helper()
	running := make(chan struct{})
	wg.Add(1)
	go func() { // owner: the test; exits when release is closed; joined by wg
		defer wg.Done()
		_, err := policy.Run(ctx, p, func(context.Context) (int, error) {
			close(running)
			<-release
			return 0, nil
		})
		assert.NoError(t, err)
	}()
	<-running
}

func TestLimiterRejectsWhenFull(t *testing.T) {
	lim := adaptive.NewLimiter(adaptive.WithLimits(2, 2))
	p := adaptive.Policy[int](lim)
	release := make(chan struct{})
	var wg sync.WaitGroup
	hold(t, p, context.Background(), release, &wg)
	hold(t, p, context.Background(), release, &wg)
	_, ok := lim.Shedding()
	assert.False(t, ok, "nothing shed yet")

	ran := false
	ctx := adaptive.ContextWithPriority(context.Background(), adaptive.High)
	_, err := policy.Run(ctx, p, func(context.Context) (int, error) { ran = true; return 0, nil })
	assert.ErrorIs(t, err, adaptive.ErrLimited)
	assert.ErrorIs(t, err, ion.ErrRejected)
	assert.False(t, ran, "a rejected call does not run")
	prio, ok := lim.Shedding()
	assert.True(t, ok)
	assert.Equal(t, adaptive.High, prio, "Shedding reports the highest priority rejected")
	assert.Equal(t, adaptive.Stats{Limit: 2, InFlight: 2}, lim.Stats())
	close(release)
	wg.Wait()
	assert.Zero(t, lim.Stats().InFlight)
}

func TestLimiterAlreadyDoneCtx(t *testing.T) {
	lim := adaptive.NewLimiter()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := adaptive.Policy[int](lim).Execute(ctx, policy.Next[int]{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ion.ErrRejected, "the caller's own cancellation is not a rejection")
	assert.Zero(t, lim.Stats().InFlight)
}

func TestPolicyPanicReturnsPermit(t *testing.T) {
	lim := adaptive.NewLimiter(adaptive.WithLimits(1, 1))
	p := adaptive.Policy[int](lim)
	assert.PanicsWithValue(t, "boom", func() {
		_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { panic("boom") })
	}, "the panic goes on up the stack")
	assert.Zero(t, lim.Stats().InFlight, "the permit came back")
	v, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 7, nil })
	require.NoError(t, err)
	assert.Equal(t, 7, v)
}

// TestPolicyOutcomesMoveTheLimit checks that the pipeline's classifier
// decides what a call says: with AIMD and a window per call, a success
// adds one, a Failure (here a 503 with a nil error) backs off, and the
// caller's own cancellation changes nothing.
func TestPolicyOutcomesMoveTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithAlgorithm(adaptive.AIMD), adaptive.WithInitialLimit(2),
			adaptive.WithSampleWindow(time.Nanosecond, 1))
		pipe := policy.Compose(adaptive.Policy[int](lim)).WithClassifier(func(v int, err error) policy.Outcome {
			if v == 503 {
				return policy.Failure
			}
			return policy.Success
		})
		call := func(ctx context.Context, v int) {
			_, _ = pipe.Run(ctx, func(ctx context.Context) (int, error) {
				time.Sleep(time.Millisecond)
				if v < 0 {
					return 0, ctx.Err()
				}
				return v, nil
			})
		}
		call(context.Background(), 200)
		assert.Equal(t, 3, lim.Stats().Limit, "a success grows the limit")
		call(context.Background(), 200)
		assert.Equal(t, 3, lim.Stats().Limit, "one call in flight of 3 is app-limited: no growth")
		call(context.Background(), 503)
		assert.Equal(t, 2, lim.Stats().Limit, "a 503 is a drop: 3 × 0.9 = 2.7")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		call(ctx, -1)
		assert.Equal(t, 2, lim.Stats().Limit, "the caller's cancellation says nothing")
	})
}

// TestLimiterStress hammers the accounting: with a fixed limit, no more
// calls than the limit ever run at once; with a moving one, never more than
// the maximum; in-flight is never negative, and every permit comes back,
// whether calls succeed, fail, panic, wait, time out or are cancelled.
func TestLimiterStress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		max   int64
		opts  []adaptive.LimiterOption
		waits bool
	}{
		{"fixed limit", 5, []adaptive.LimiterOption{adaptive.WithLimits(5, 5)}, false},
		{"fixed limit with a queue", 5, []adaptive.LimiterOption{adaptive.WithLimits(5, 5), adaptive.WithMaxWait(time.Millisecond),
			adaptive.WithCoDel(10*time.Microsecond, time.Millisecond), adaptive.WithAdaptiveLIFO(3)}, true},
		{"moving limit", 12, []adaptive.LimiterOption{adaptive.WithLimits(1, 12), adaptive.WithInitialLimit(6),
			adaptive.WithAlgorithm(adaptive.AIMD), adaptive.WithSampleWindow(time.Nanosecond, 2), adaptive.WithMaxWait(time.Millisecond)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := adaptive.NewLimiter(tc.opts...)
			p := adaptive.Policy[int](lim)
			var running, peak atomic.Int64
			var wg sync.WaitGroup
			const goroutines, calls = 16, 300
			for g := range goroutines {
				wg.Add(1)
				go func() { // owner: the test; exits after its calls; joined by wg.Wait
					defer wg.Done()
					for i := range calls {
						ctx := adaptive.ContextWithPriority(context.Background(), adaptive.Priority(i%5-2))
						var cancel context.CancelFunc = func() {}
						if i%7 == 0 {
							ctx, cancel = context.WithTimeout(ctx, time.Duration(i%3)*time.Microsecond)
						}
						func() {
							defer func() { _ = recover() }()
							_, _ = policy.Run(ctx, p, func(context.Context) (int, error) {
								n := running.Add(1)
								defer running.Add(-1)
								for {
									old := peak.Load()
									if n <= old || peak.CompareAndSwap(old, n) {
										break
									}
								}
								// This call holds a permit, so at least one is
								// in flight; n may be stale by now, so it only
								// feeds the peak.
								if s := lim.Stats(); s.InFlight < 1 || s.InFlight > int(tc.max) {
									t.Errorf("in flight %d while a call runs, max %d", s.InFlight, tc.max)
								}
								switch (g + i) % 11 {
								case 0:
									panic("boom")
								case 1:
									return 0, errors.New("failed")
								}
								return 0, nil
							})
						}()
						cancel()
					}
				}()
			}
			wg.Wait()
			assert.LessOrEqual(t, peak.Load(), tc.max, "calls running at once")
			s := lim.Stats()
			assert.Zero(t, s.InFlight, "every permit came back")
			assert.Zero(t, s.Queued, "no waiter left behind")
		})
	}
}

// TestLimiterShedsLowestPriorityFirst overloads a dependency of capacity 10
// with 96 sheddable callers and 4 critical ones: the limiter sheds the
// sheddable calls and serves nearly every critical one, and says so.
func TestLimiterShedsLowestPriorityFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := adaptive.NewLimiter(adaptive.WithSampleWindow(100*time.Millisecond, 10),
			adaptive.WithMaxWait(20*time.Millisecond))
		p := adaptive.Policy[int](lim)
		d := &dep{base: 10 * time.Millisecond, c: 10}
		stop := make(chan struct{})
		var served, rejected [2]atomic.Int64 // 0 sheddable, 1 critical
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Add(1)
			go func() { // owner: the test; exits when stop is closed; joined by wg.Wait
				defer wg.Done()
				k, prio := 0, adaptive.Sheddable
				if i < 4 {
					k, prio = 1, adaptive.Critical
				}
				ctx := adaptive.ContextWithPriority(context.Background(), prio)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := policy.Run(ctx, p, d.call); err != nil {
						rejected[k].Add(1)
						time.Sleep(time.Millisecond)
					} else {
						served[k].Add(1)
					}
				}
			}()
		}
		time.Sleep(3 * time.Second)
		prio, ok := lim.Shedding()
		close(stop)
		wg.Wait()
		t.Logf("sheddable %d served, %d rejected; critical %d served, %d rejected; stats %+v",
			served[0].Load(), rejected[0].Load(), served[1].Load(), rejected[1].Load(), lim.Stats())
		assert.True(t, ok)
		assert.Equal(t, adaptive.Sheddable, prio, "shedding happens at the sheddable priority")
		assert.Greater(t, rejected[0].Load(), served[0].Load()/10, "sheddable calls are shed")
		crit := float64(served[1].Load()) / float64(served[1].Load()+rejected[1].Load())
		assert.GreaterOrEqual(t, crit, 0.99, "critical calls are served")
	})
}
