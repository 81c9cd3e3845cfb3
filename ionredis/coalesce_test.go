package ionredis_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gateHook holds the first script call a client makes until release is
// closed, records the tokens (ARGV[1]) each script call asks for, and
// with failLater fails every script call after the first.
type gateHook struct {
	held, release chan struct{}
	first         atomic.Bool
	failLater     bool

	mu sync.Mutex
	ns []int64
}

func newGate() *gateHook {
	return &gateHook{held: make(chan struct{}), release: make(chan struct{})}
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		name := cmd.Name()
		if name != "evalsha" && name != "eval" {
			return next(ctx, cmd)
		}
		args := cmd.Args() // name, script, numkeys, keys..., argv...
		nkeys, _ := strconv.Atoi(fmt.Sprint(args[2]))
		n, _ := strconv.ParseInt(fmt.Sprint(args[3+nkeys]), 10, 64)
		h.mu.Lock()
		h.ns = append(h.ns, n)
		h.mu.Unlock()
		if h.first.CompareAndSwap(false, true) {
			close(h.held)
			<-h.release
		} else if h.failLater {
			err := errors.New("gate: injected failure")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *gateHook) asked() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.ns...)
}

// cohortOf starts a first caller of lim (unkeyed), waits until its round
// trip is held by gate, then starts n more callers and waits until all of
// them have gathered in the next cohort. It returns the callers' results,
// complete once the gate is released and wait returns.
func cohortOf(t *testing.T, lim *ionredis.Limiter, gate *gateHook, ctxs []context.Context) (errs []error, wait func()) {
	t.Helper()
	n := len(ctxs)
	errs = make([]error, n+1)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = lim.Admit(context.Background(), 0) })
	<-gate.held
	for i, ctx := range ctxs {
		wg.Go(func() { errs[i+1] = lim.Admit(ctx, 0) })
	}
	for lim.Cohort("") < n {
		runtime.Gosched()
	}
	return errs, wg.Wait
}

// TestCoalesce_oneRoundTripPerCohort: 49 callers that arrive while a round
// trip is in flight are decided together in one more, exactly: the burst
// of 10 is admitted, in arrival order, and no more.
func TestCoalesce_oneRoundTripPerCohort(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		c := tg.client(t)
		lim := ionredis.NewLimiter(c, uniq(t), ionredis.Window{Rate: limit.PerHour(10), Burst: 10}, roomy)
		_, err := lim.Allow(context.Background(), "warm-up") // loads the script
		require.NoError(t, err)
		gate := newGate()
		c.AddHook(gate)

		ctxs := make([]context.Context, 49)
		for i := range ctxs {
			ctxs[i] = context.Background()
		}
		errs, wait := cohortOf(t, lim, gate, ctxs)
		close(gate.release)
		wait()

		assert.Equal(t, []int64{1, 49}, gate.asked(), "one round trip for the first caller, one for the other 49")
		allowed := 0
		for i, err := range errs {
			if err == nil {
				allowed++
				continue
			}
			require.ErrorIs(t, err, limit.ErrLimited, "caller %d", i)
			ra, ok := ion.RetryAfter(err)
			require.True(t, ok)
			// The burst is spent: one token more is 360 s away.
			assert.InDelta(t, float64(360*time.Second), float64(ra), float64(2*time.Second), "caller %d", i)
		}
		assert.Equal(t, 10, allowed, "exactly the burst is admitted")
		assert.NoError(t, errs[0], "the first caller is first")
		res, err := lim.Allow(context.Background(), "")
		require.Error(t, err, "nothing is left in Redis either")
		assert.False(t, res.Allowed)
	})
}

// TestCoalesce_partialGrantNamesTheTier: in a limiter of two windows the
// callers of a cohort left without a token are told which window holds
// them back and for how long.
func TestCoalesce_partialGrantNamesTheTier(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		c := tg.client(t)
		lim := ionredis.NewLimiter(c, uniq(t),
			ionredis.Window{Rate: limit.PerHour(3), Burst: 3, Name: "short"},
			ionredis.WithWindow(ionredis.Window{Rate: limit.PerHour(1), Burst: 5, Name: "long"}), roomy)
		_, err := lim.Allow(context.Background(), "warm-up")
		require.NoError(t, err)
		gate := newGate()
		c.AddHook(gate)

		ctxs := make([]context.Context, 6)
		for i := range ctxs {
			ctxs[i] = context.Background()
		}
		errs, wait := cohortOf(t, lim, gate, ctxs)
		close(gate.release)
		wait()

		require.NoError(t, errs[0])
		allowed := 0
		for i, err := range errs {
			if err == nil {
				allowed++
				continue
			}
			var le *limit.LimitedError
			require.ErrorAs(t, err, &le, "caller %d", i)
			assert.Equal(t, "short", le.Tier, "caller %d", i)
			assert.InDelta(t, float64(1200*time.Second), float64(le.Delay), float64(2*time.Second), "caller %d", i)
		}
		assert.Equal(t, 3, allowed, "the short window's burst of 3, the first caller's token included")
	})
}

// TestCoalesce_leaverIsNotCounted: a caller whose ctx ends before its
// cohort is sent leaves at once and takes no token.
func TestCoalesce_leaverIsNotCounted(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		c := tg.client(t)
		lim := ionredis.NewLimiter(c, uniq(t), ionredis.Window{Rate: limit.PerHour(100), Burst: 100}, roomy)
		_, err := lim.Allow(context.Background(), "warm-up")
		require.NoError(t, err)
		gate := newGate()
		c.AddHook(gate)

		ctxs := make([]context.Context, 10)
		cancels := make([]context.CancelFunc, 3)
		for i := range ctxs {
			ctxs[i] = context.Background()
			if i < len(cancels) {
				ctxs[i], cancels[i] = context.WithCancel(ctxs[i])
			}
		}
		errs, wait := cohortOf(t, lim, gate, ctxs)
		for _, cancel := range cancels {
			cancel()
		}
		for lim.Cohort("") > 7 {
			runtime.Gosched()
		}
		close(gate.release)
		wait()

		assert.Equal(t, []int64{1, 7}, gate.asked(), "the cohort asks for its 7 remaining callers")
		for i, err := range errs {
			if i >= 1 && i <= len(cancels) {
				assert.ErrorIs(t, err, context.Canceled, "caller %d left", i)
			} else {
				assert.NoError(t, err, "caller %d", i)
			}
		}
		res, err := lim.Allow(context.Background(), "")
		require.NoError(t, err)
		assert.Equal(t, 100-8-1, res.Remaining, "8 tokens taken by callers, one by this Allow")
	})
}

// TestCoalesce_backendFailure: a cohort whose round trip fails is answered
// by the failure mode, for each of its callers.
func TestCoalesce_backendFailure(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("failOpen=%v", open), func(t *testing.T) {
			mr := newMini(t)
			c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
			t.Cleanup(func() { c.Close() })
			opts := []ionredis.LimiterOption{roomy}
			if open {
				opts = append(opts, ionredis.WithFailOpen())
			}
			lim := ionredis.NewLimiter(c, uniq(t), ionredis.Window{Rate: limit.PerHour(100), Burst: 100}, opts...)
			_, err := lim.Allow(context.Background(), "warm-up")
			require.NoError(t, err)
			gate := newGate()
			gate.failLater = true
			c.AddHook(gate)

			ctxs := make([]context.Context, 5)
			for i := range ctxs {
				ctxs[i] = context.Background()
			}
			errs, wait := cohortOf(t, lim, gate, ctxs)
			close(gate.release)
			wait()

			require.NoError(t, errs[0], "the first round trip succeeds")
			for i := 1; i < len(errs); i++ {
				if open {
					assert.NoError(t, errs[i], "caller %d: fail open", i)
					continue
				}
				var be *ionredis.BackendError
				assert.ErrorAs(t, errs[i], &be, "caller %d: fail closed", i)
			}
		})
	}
}

// TestCoalesce_stressExact: many callers on a few subjects, with no gate:
// however the cohorts form, each subject admits exactly its burst.
func TestCoalesce_stressExact(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		lim := ionredis.NewLimiter(tg.client(t), uniq(t), ionredis.Window{Rate: limit.PerHour(20), Burst: 20}, roomy)
		keyed := lim.By(func(ctx context.Context) string { return ctx.Value(subjectKey{}).(string) })
		var allowed [4]atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				s := g % len(allowed)
				ctx := context.WithValue(context.Background(), subjectKey{}, strconv.Itoa(s))
				for range 10 {
					switch err := keyed.Admit(ctx, 0); {
					case err == nil:
						allowed[s].Add(1)
					case !errors.Is(err, limit.ErrLimited):
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		for s := range allowed {
			assert.Equal(t, int64(20), allowed[s].Load(), "subject %d admits exactly its burst of 80 calls", s)
		}
	})
}

type subjectKey struct{}

// TestCoalesce_boundedSubjects: a limiter keeps the state of at most
// MaxSubjects subjects however many it has seen.
func TestCoalesce_boundedSubjects(t *testing.T) {
	mr := newMini(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	lim := ionredis.NewLimiter(c, uniq(t), ionredis.Window{Rate: 1000, Burst: 10}, roomy)
	keyed := lim.By(func(ctx context.Context) string { return ctx.Value(subjectKey{}).(string) })
	for i := range ionredis.MaxSubjects + 100 {
		ctx := context.WithValue(context.Background(), subjectKey{}, strconv.Itoa(i))
		require.NoError(t, keyed.Admit(ctx, 0))
		require.LessOrEqual(t, lim.Subjects(), ionredis.MaxSubjects)
	}
	assert.Positive(t, lim.Subjects())
}
