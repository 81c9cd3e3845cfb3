package schedule

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

// errGoexit is the value of the *ion.PanicError of a job that called
// runtime.Goexit.
var errGoexit = errors.New("schedule: job called runtime.Goexit")

// task returns the pool task of one run of j. The run was counted in
// j.running and s.inflight by the loop; the task undoes both when it ends.
func (s *Scheduler) task(j *job) pool.Task {
	return func(ctx context.Context) error { return s.run(ctx, j) }
}

// run runs j once on a pool worker: through j's policy, with its panic
// recovered into a *ion.PanicError, under a context that Stop cancels.
func (s *Scheduler) run(ctx context.Context, j *job) (err error) {
	s.mu.Lock()
	if s.stopped || j.removed {
		// Due and handed to the pool, but Stop or Remove came before a
		// worker took it: discard it like a pending run.
		j.running--
		j.discarded++
		if s.stopped {
			s.dropped++
		}
		s.doneLocked()
		s.mu.Unlock()
		j.inst.running.Add(-1)
		s.discarded(j, 1)
		return nil
	}
	start := time.Now()
	j.lastStart = start
	s.mu.Unlock()

	// The run's ctx is a child of runCtx, so that Stop's cancellation
	// (cause ErrStopped) reaches it synchronously, before Stop closes its
	// pool; the pool's cancellation of the task follows through AfterFunc.
	taskCtx := ctx
	ctx, cancel := context.WithCancelCause(s.runCtx)
	stop := context.AfterFunc(taskCtx, func() { cancel(context.Cause(taskCtx)) })
	var span observe.Span
	if s.cfg.tracer != nil {
		ctx, span = s.cfg.tracer.Start(ctx, "schedule.run")
	}
	returned := false
	defer func() {
		if !returned {
			// A panic, or runtime.Goexit (recover returns nil): the run
			// ends here either way, and the pool replaces a worker that
			// exits.
			v := recover()
			if v == nil {
				v = errGoexit
			}
			err = ion.NewPanicError(v)
		}
		stop()
		cancel(nil)
		if span != nil {
			if err == nil {
				span.End("success", nil)
			} else {
				span.End("failure", err)
			}
		}
		s.finish(j, start, err)
	}()
	if j.pol != nil {
		err = policy.Do(ctx, j.pol, j.fn)
	} else {
		err = j.fn(ctx)
	}
	returned = true
	return err
}

// finish accounts for a run of j that started at start and returned err.
func (s *Scheduler) finish(j *job, start time.Time, err error) {
	end := time.Now()
	var pe *ion.PanicError
	panicked := errors.As(err, &pe)
	s.mu.Lock()
	j.running--
	j.runs++
	switch {
	case panicked:
		j.panics++
	case err != nil:
		j.failures++
	}
	j.lastEnd, j.lastErr = end, err
	s.rescheduleLocked(j, end)
	next := j.due
	s.doneLocked()
	wake := j.pending > 0 || j.trig.delay() > 0
	s.mu.Unlock()

	j.inst.running.Add(-1)
	j.inst.duration.Observe(end.Sub(start).Seconds())
	switch {
	case panicked:
		j.inst.panicked.Add(1)
		s.log(slog.LevelError, "schedule: job panicked", j.name, err)
	case err != nil:
		j.inst.failed.Add(1)
	default:
		j.inst.completed.Add(1)
	}
	if j.trig.delay() > 0 {
		j.inst.next(next)
	}
	if wake {
		s.poke()
	}
}

// gaugeCount keeps a gauge equal to a count changed from several
// goroutines: the count is atomic and each change sets the gauge to the
// value it produced. Two changes racing may set the gauge in the other
// order for an instant; the next change corrects it.
type gaugeCount struct {
	n atomic.Int64
	g observe.Gauge // nil without a Metrics sink
}

func (c *gaugeCount) Add(d int64) {
	v := c.n.Add(d)
	if c.g != nil {
		c.g.Set(float64(v))
	}
}
