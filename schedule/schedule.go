package schedule

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/pool"
)

var (
	// ErrStopped is returned by Add after Stop has begun, and reported for
	// runs that were due but had not started when Stop or Remove discarded
	// them. A run's context is cancelled with it as cause when Stop's ctx
	// ends.
	ErrStopped error = reject.New("schedule: stopped")
	// ErrMissed is reported for due times the missed-run policy dropped.
	ErrMissed error = reject.New("schedule: run missed")
	// ErrOverlap is reported for runs the overlap policy dropped because
	// earlier runs of the job were still running.
	ErrOverlap error = reject.New("schedule: run skipped, job still running")
)

// Job is the work of a scheduled job. Its ctx is cancelled when Stop's ctx
// ends (cause [ErrStopped]) and when the pool cancels its tasks; it carries
// no deadline unless a policy of [WithPolicy] sets one. Its error is the
// run's result (see [JobSnapshot]).
type Job func(ctx context.Context) error

// Scheduler runs named jobs when their [Trigger] says, on an Ion pool,
// through an optional policy, under a missed-run and an overlap policy.
// Every run that was due is accounted for: it runs, or it is counted as
// skipped, rejected or discarded and reported (see [WithDiscardHandler]).
//
// Most callers want [New], [Scheduler.Add] for each job, and
// [Scheduler.Stop] at shutdown. The zero Scheduler fails closed: Add
// returns an error matching ion.ErrInvalidConfig that says to use New.
// A Scheduler is safe for concurrent use by multiple goroutines, including
// its own jobs.
type Scheduler struct {
	cfg     config
	ownPool bool                    // cfg.pool was made by New; Stop closes it
	runCtx  context.Context         // parent of every run's context; cancelled by Stop
	cancel  context.CancelCauseFunc // cancels runCtx
	wake    chan struct{}           // buffered (1): tells the loop to look again; never closed
	quit    chan struct{}           // closed by the first Stop: the loop exits
	exited  chan struct{}           // closed by the loop when it returns
	drained chan struct{}           // closed once stopped with no run in flight

	// mu guards the fields below.
	mu       sync.Mutex
	jobs     map[string]*job
	started  bool // the loop goroutine was started (by the first Add)
	stopped  bool // set by the first Stop; never cleared
	inflight int  // runs handed to the pool and not yet finished or discarded
	dropped  int  // runs discarded because of Stop
}

// job is one scheduled job. Its configuration is immutable; the state below
// it is guarded by the Scheduler's mu.
type job struct {
	name string
	fn   Job
	trig Trigger
	jobConfig
	maxConc int // runs at once, from the overlap policy
	queue   int // runs waiting for a free slot, from the overlap policy
	inst    instruments

	due     time.Time // nominal next due time; zero when none is set
	fireAt  time.Time // due plus its jitter: when the loop acts on it
	pending int       // due runs waiting for a free slot
	running int       // runs handed to the pool and not finished
	removed bool      // set by Remove

	runs, failures, panics, skipped, rejected, discarded uint64
	lastStart, lastEnd                                   time.Time
	lastErr                                              error
}

// maxCatchUp bounds the due times the scheduler counts when it finds a job
// far behind: beyond it the job jumps to its next due time after now and
// counts maxCatchUp of them (skipped, but for those the missed-run policy
// runs).
const maxCatchUp = 100_000

// New returns a Scheduler configured by opts. An invalid option makes it
// fail closed: Add returns an error matching ion.ErrInvalidConfig that names
// the option, also reported by [Scheduler.Err]. New never panics and starts
// no goroutine: the first Add starts the scheduler's one goroutine, which
// Stop ends.
func New(opts ...Option) *Scheduler {
	s := &Scheduler{
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		exited:  make(chan struct{}),
		drained: make(chan struct{}),
		jobs:    make(map[string]*job),
	}
	for _, o := range opts {
		if o == nil {
			s.cfg.setErr(ion.NewConfigError("schedule", "option", "nil Option"))
			continue
		}
		o.apply(&s.cfg)
	}
	if s.cfg.err != nil {
		return s
	}
	if s.cfg.pool == nil {
		// Workers start on demand and idle out, so the size is only a
		// ceiling no schedule reaches: the overlap policies bound each
		// job's concurrency, and a shared bound is what WithPool is for.
		s.cfg.pool = pool.New(1<<20, 0, pool.WithName("schedule"))
		s.ownPool = true
	}
	s.runCtx, s.cancel = context.WithCancelCause(context.Background())
	return s
}

var errZero = ion.NewConfigError("schedule", "Scheduler", "zero Scheduler: use New")

// Err returns the configuration error that makes s fail closed, or nil. A
// nil *Scheduler fails closed like the zero one.
func (s *Scheduler) Err() error {
	if s == nil || s.jobs == nil {
		return errZero
	}
	return s.cfg.err
}

// Add schedules fn as the job name: it runs when when says, with opts (a
// policy, jitter, the missed-run and overlap policies). Add does not block;
// the first run is due at when's first time after now (d after now for the
// interval triggers, the cron's next time for a *Cron).
//
// An empty name, a name already scheduled, a nil fn (named "job"), a nil or invalid
// trigger or an invalid option returns an error matching
// ion.ErrInvalidConfig that names the parameter, and schedules nothing.
// After Stop has begun, Add returns [ErrStopped]. A scheduler that fails
// closed returns its configuration error. Add allocates the job and, with
// WithMetrics, resolves its instruments.
func (s *Scheduler) Add(name string, when Trigger, fn Job, opts ...JobOption) error {
	if err := s.Err(); err != nil {
		return err
	}
	var jc jobConfig
	for _, o := range opts {
		if o == nil {
			jc.setErr(ion.NewConfigError("schedule", "option", "nil JobOption"))
			continue
		}
		o.applyJob(&jc)
	}
	switch {
	case name == "":
		return ion.NewConfigError("schedule", "name", "empty job name")
	case when == nil:
		return ion.NewConfigError("schedule", "trigger", "nil Trigger")
	case fn == nil:
		return ion.NewConfigError("schedule", "job", "nil Job")
	}
	if err := when.check(); err != nil {
		return err
	}
	if jc.err != nil {
		return jc.err
	}
	j := &job{name: name, fn: fn, trig: when, jobConfig: jc,
		maxConc: max(jc.overlap.maxConc, 1), queue: jc.overlap.queue}
	j.inst = newInstruments(s.cfg.metrics, name)
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrStopped
	}
	if _, dup := s.jobs[name]; dup {
		s.mu.Unlock()
		return ion.NewConfigError("schedule", "name", "job %q already scheduled", name)
	}
	s.jobs[name] = j
	s.setDueLocked(j, when.first(time.Now()))
	next := j.due
	if !s.started {
		s.started = true
		// The loop is owned by s: it exits when Stop closes s.quit, and
		// Stop joins it on s.exited.
		go s.loop()
	}
	s.mu.Unlock()
	j.inst.next(next)
	s.poke()
	return nil
}

// Remove unschedules the job named name and reports whether there was one.
// Runs of it that were due but not started (waiting for a free slot, or
// handed to the pool and not yet taken by a worker) are discarded: reported
// with [ErrStopped]. Runs already started finish, and Stop still waits for
// them. The name may be scheduled again at once. Remove does not
// block.
func (s *Scheduler) Remove(name string) bool {
	if s.Err() != nil {
		return false
	}
	s.mu.Lock()
	j, ok := s.jobs[name]
	if !ok {
		s.mu.Unlock()
		return false
	}
	delete(s.jobs, name)
	j.removed = true
	n := j.pending
	j.pending = 0
	j.discarded += uint64(n)
	s.setDueLocked(j, time.Time{})
	s.mu.Unlock()
	j.inst.next(time.Time{})
	if n > 0 {
		s.discarded(j, n)
	}
	return true
}

// Stop stops s: no run starts after it begins (Add returns [ErrStopped]),
// runs that were due and not started are discarded and reported, and Stop
// waits until every started run has returned, then closes the scheduler's
// own pool (not one given with WithPool). It returns the number of runs it
// discarded, and nil.
//
// If ctx ends first, Stop cancels the context of every running job (cause
// [ErrStopped]) and returns the number discarded so far with an error
// wrapping ctx.Err(); it does not wait for jobs that ignore their context:
// they finish on the pool's workers, and a later Stop waits for them again.
// Stop is idempotent and safe to call from a job (it then waits for every
// other run, up to ctx; a job that stops its own scheduler should pass a
// ctx that ends). A nil ctx returns an error matching ion.ErrInvalidConfig.
func (s *Scheduler) Stop(ctx context.Context) (int, error) {
	if err := s.Err(); err != nil {
		return 0, err
	}
	if ctx == nil {
		return 0, ion.NewConfigError("schedule", "ctx", "nil context")
	}
	type drop struct {
		j *job
		n int
	}
	var drops []drop
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.quit)
		for _, j := range s.jobs {
			if j.pending > 0 {
				drops = append(drops, drop{j, j.pending})
				j.discarded += uint64(j.pending)
				s.dropped += j.pending
				j.pending = 0
			}
			s.setDueLocked(j, time.Time{})
		}
		if s.inflight == 0 {
			close(s.drained)
		}
	}
	started := s.started
	s.mu.Unlock()
	for _, d := range drops {
		d.j.inst.next(time.Time{})
		s.discarded(d.j, d.n)
	}
	if started {
		<-s.exited // the loop never blocks but in its select, which quit ends
	}
	select {
	case <-s.drained:
	case <-ctx.Done():
		s.cancel(ErrStopped)
		if s.ownPool {
			_, _ = s.cfg.pool.Close(ctx) // forced: returns at once
		}
		return s.droppedCount(), fmt.Errorf("schedule: stop: %w", ctx.Err())
	}
	s.cancel(ErrStopped) // no run is left; this releases runCtx
	if s.ownPool {
		if _, err := s.cfg.pool.Close(ctx); err != nil {
			return s.droppedCount(), fmt.Errorf("schedule: stop: %w", err)
		}
	}
	return s.droppedCount(), nil
}

func (s *Scheduler) droppedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Snapshot is a point-in-time view of a scheduler, taken under one lock.
type Snapshot struct {
	Stopped bool          // Stop has begun
	Jobs    []JobSnapshot // every scheduled job, sorted by name
}

// JobSnapshot is the state and counters of one job. Every due time of the
// job is in exactly one of Pending, Running, Runs, Skipped, Rejected or
// Discarded (a job found far behind counts at most 100,000 due times).
type JobSnapshot struct {
	Name    string
	Next    time.Time // the next due time (before jitter); zero when none: a one-shot job that ran, a fixed-delay job running, or a stopped scheduler
	Pending int       // runs due and waiting for a free slot (QueueOne, RunMissed)
	Running int       // runs handed to the pool and not finished

	Runs      uint64 // runs that returned, whatever their result
	Failures  uint64 // runs that returned an error (panics excluded)
	Panics    uint64 // runs that panicked or called runtime.Goexit
	Skipped   uint64 // due runs dropped by the missed-run or the overlap policy
	Rejected  uint64 // runs the pool refused
	Discarded uint64 // due runs not started because of Stop or Remove

	LastStart time.Time // when the last run started; zero before the first
	LastEnd   time.Time // when the last run returned
	LastErr   error     // the last run's error: nil, its error, or a *ion.PanicError
}

// Snapshot returns the state of every scheduled job. It takes s's lock
// briefly and allocates the slice.
func (s *Scheduler) Snapshot() Snapshot {
	if s.Err() != nil {
		return Snapshot{}
	}
	s.mu.Lock()
	snap := Snapshot{Stopped: s.stopped, Jobs: make([]JobSnapshot, 0, len(s.jobs))}
	for _, j := range s.jobs {
		snap.Jobs = append(snap.Jobs, JobSnapshot{
			Name: j.name, Next: j.due, Pending: j.pending, Running: j.running,
			Runs: j.runs, Failures: j.failures, Panics: j.panics, Skipped: j.skipped,
			Rejected: j.rejected, Discarded: j.discarded,
			LastStart: j.lastStart, LastEnd: j.lastEnd, LastErr: j.lastErr,
		})
	}
	s.mu.Unlock()
	slices.SortFunc(snap.Jobs, func(a, b JobSnapshot) int { return cmp.Compare(a.Name, b.Name) })
	return snap
}

// poke tells the loop to look at the jobs again. It never blocks: a wake-up
// already pending covers this one.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// setDueLocked sets j's next due time and draws its jitter. It must be
// called with s.mu held.
func (s *Scheduler) setDueLocked(j *job, due time.Time) {
	j.due, j.fireAt = due, due
	if !due.IsZero() && j.jitter > 0 {
		j.fireAt = due.Add(rand.N(j.jitter))
	}
}

// loop is the scheduler's one goroutine: it sleeps until the earliest
// fire time of any job, or until poked, and hands due runs to the pool.
// It exits when Stop closes s.quit.
func (s *Scheduler) loop() {
	defer close(s.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var b buffers
	for {
		wait, ok := s.tick(&b)
		if ok {
			timer.Reset(wait) // Go 1.23 timers: Reset discards a stale firing
		} else {
			timer.Stop()
		}
		select {
		case <-timer.C:
		case <-s.wake:
		case <-s.quit:
			return
		}
	}
}

// discard is a report of runs not run, made after the lock is released.
type discard struct {
	j   *job
	n   int
	err error
}

// tick acts on every job whose fire time has come, starts the runs that
// may start, and returns how long until the earliest fire time (ok false if
// no job has one).
func (s *Scheduler) tick(b *buffers) (wait time.Duration, ok bool) {
	starts, fired := b.starts[:0], b.fired[:0]
	defer func() {
		clear(starts) // drop the references until the next tick
		clear(fired)
		b.starts, b.fired = starts[:0], fired[:0]
	}()
	now := time.Now()
	var drops [4]discard
	reports := drops[:0]
	var next time.Time
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return 0, false
	}
	for _, j := range s.jobs {
		if !j.fireAt.IsZero() && !now.Before(j.fireAt) {
			reports = s.dueLocked(j, now, reports)
			if j.inst.on {
				fired = append(fired, firing{j, j.due})
			}
		}
		for j.pending > 0 && j.running < j.maxConc {
			j.pending--
			j.running++
			s.inflight++
			starts = append(starts, j)
		}
		if !j.fireAt.IsZero() && (next.IsZero() || j.fireAt.Before(next)) {
			next = j.fireAt
		}
	}
	s.mu.Unlock()
	for _, f := range fired {
		f.j.inst.next(f.next)
	}
	for _, r := range reports {
		r.j.inst.skipped.Add(int64(r.n))
		s.report(r.j.name, r.n, r.err)
	}
	for _, j := range starts {
		j.inst.running.Add(1)
		if err := s.cfg.pool.TrySubmit(s.task(j)); err != nil {
			s.refused(j, err)
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return next.Sub(now), true
}

// buffers are the loop's scratch slices, reused by every tick.
type buffers struct {
	starts []*job   // runs to hand to the pool
	fired  []firing // next due times to publish
}

// firing is a job's next due time, published after the lock is released.
type firing struct {
	j    *job
	next time.Time
}

// dueLocked handles j's due times up to now: it applies the missed-run
// policy, adds the runs it keeps to j.pending, applies the overlap policy,
// and sets the next due time. It appends the runs dropped to reports. It
// must be called with s.mu held.
func (s *Scheduler) dueLocked(j *job, now time.Time, reports []discard) []discard {
	// Count the due times in the past: k of them, the latest being last.
	last, k := j.due, 1
	lateBy := now.Sub(j.fireAt)
	var next time.Time
	if d := j.trig.delay(); d == 0 {
		next = j.trig.after(last)
		if r, isRate := j.trig.(rate); isRate && !next.IsZero() && !next.After(now) {
			// Whole periods since last, in int64: a long suspension of a
			// short interval can pass an int on 32-bit platforms.
			n := int64(now.Sub(last) / r.d)
			last = last.Add(time.Duration(n) * r.d)
			k = int(min(int64(k)+n, maxCatchUp))
			next = last.Add(r.d)
		}
		for !next.IsZero() && !next.After(now) {
			last, k = next, k+1
			next = j.trig.after(next)
			if k >= maxCatchUp {
				next = j.trig.after(now)
				break
			}
		}
		if k > 1 {
			lateBy = now.Sub(last)
		}
	}
	s.setDueLocked(j, next)

	// The missed-run policy: how many of the k due runs to keep.
	keep := 1
	switch j.missed.mode {
	case missedSkip:
		if lateBy > j.missed.grace {
			keep = 0
		}
	case missedAll:
		keep = min(k, j.missed.max)
	}
	if dropped := k - keep; dropped > 0 {
		j.skipped += uint64(dropped)
		reports = append(reports, discard{j, dropped, ErrMissed})
	}

	// The overlap policy: start what may start, keep what may wait. A
	// catch-up of RunMissed waits in full, one run after another.
	// Runs already waiting keep their place: a due time that finds the
	// queue full drops itself.
	before := j.pending
	j.pending += keep
	free := max(j.maxConc-j.running, 0)
	limit := max(free+max(j.queue, keep-1), before)
	if j.pending > limit {
		over := j.pending - limit
		j.pending = limit
		j.skipped += uint64(over)
		reports = append(reports, discard{j, over, ErrOverlap})
	}
	if keep == 0 && j.trig.delay() > 0 {
		// A fixed-delay job counts from the end of its runs; with this run
		// skipped, count from now.
		s.setDueLocked(j, now.Add(j.trig.delay()))
	}
	return reports
}

// refused accounts for a run the pool refused.
func (s *Scheduler) refused(j *job, err error) {
	s.mu.Lock()
	j.running--
	j.rejected++
	s.rescheduleLocked(j, time.Now())
	s.doneLocked()
	s.mu.Unlock()
	j.inst.running.Add(-1)
	j.inst.rejected.Add(1)
	s.log(slog.LevelWarn, "schedule: pool refused a run", j.name, err)
	s.report(j.name, 1, err)
	s.poke() // a fixed-delay job has a new due time the loop has not seen
}

// rescheduleLocked sets the next due time of a fixed-delay job whose run
// ended (or never started) at end. It must be called with s.mu held.
func (s *Scheduler) rescheduleLocked(j *job, end time.Time) {
	if d := j.trig.delay(); d > 0 && !j.removed && !s.stopped && j.running == 0 && j.pending == 0 && j.due.IsZero() {
		s.setDueLocked(j, end.Add(d))
	}
}

// doneLocked accounts for a run that left the pool. It must be called with
// s.mu held.
func (s *Scheduler) doneLocked() {
	s.inflight--
	if s.stopped && s.inflight == 0 {
		close(s.drained)
	}
}

// report calls the discard handler, if any, without any lock held.
func (s *Scheduler) report(name string, n int, err error) {
	if s.cfg.onDiscard == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log(slog.LevelError, "schedule: discard handler panicked", name, ion.NewPanicError(r))
		}
	}()
	s.cfg.onDiscard(name, n, err)
}

// log records a rare event about the job name, if s has a Logger.
func (s *Scheduler) log(level slog.Level, msg, name string, err error) {
	if s.cfg.logger == nil {
		return
	}
	s.cfg.logger.Log(context.Background(), level, msg, slog.String("job", name), slog.Any("error", err))
}

// discarded accounts, outside the lock, for n due runs of j that Stop or
// Remove discarded: metrics, the Logger and the discard handler.
func (s *Scheduler) discarded(j *job, n int) {
	j.inst.discarded.Add(int64(n))
	if s.cfg.logger != nil {
		s.cfg.logger.Log(context.Background(), slog.LevelWarn, "schedule: due runs discarded",
			slog.String("job", j.name), slog.Int("runs", n), slog.Any("error", ErrStopped))
	}
	s.report(j.name, n, ErrStopped)
}

// instruments are one job's metrics, resolved once by Add; with no Metrics
// sink they are no-ops.
type instruments struct {
	on                                             bool
	completed, failed, panicked, skipped, rejected observe.Counter
	discarded                                      observe.Counter
	runningG, nextG                                observe.Gauge
	duration                                       observe.Histogram
	running                                        *gaugeCount
}

func newInstruments(m observe.Metrics, name string) instruments {
	if m == nil {
		m = observe.Nop()
		return instruments{
			completed: m.Counter(""), failed: m.Counter(""), panicked: m.Counter(""), skipped: m.Counter(""),
			rejected: m.Counter(""), discarded: m.Counter(""), runningG: m.Gauge(""), nextG: m.Gauge(""),
			duration: m.Histogram(""), running: &gaugeCount{},
		}
	}
	n := observe.L("name", name)
	runs := func(result string) observe.Counter {
		return m.Counter("ion_schedule_runs_total", n, observe.L("result", result))
	}
	in := instruments{
		on:        true,
		completed: runs("completed"), failed: runs("failed"), panicked: runs("panicked"),
		skipped: runs("skipped"), rejected: runs("rejected"), discarded: runs("discarded"),
		runningG: m.Gauge("ion_schedule_running", n),
		nextG:    m.Gauge("ion_schedule_next_run_timestamp_seconds", n),
		duration: m.Histogram("ion_schedule_run_duration_seconds", n),
	}
	in.running = &gaugeCount{g: in.runningG}
	return in
}

// next records the next due time (0 for none).
func (in *instruments) next(t time.Time) {
	if !in.on {
		return
	}
	if t.IsZero() {
		in.nextG.Set(0)
		return
	}
	in.nextG.Set(float64(t.UnixNano()) / 1e9)
}
