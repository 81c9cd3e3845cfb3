package schedule

import (
	"time"

	"github.com/ionkit/ion"
)

// Trigger says when a job runs: [After] once, [FixedRate], [FixedDelay], or
// on a [*Cron]. Triggers are values; one may serve several jobs. The set of
// triggers is closed: the interface has unexported methods.
type Trigger interface {
	// first returns the first due time of a job added at now; zero for
	// none.
	first(now time.Time) time.Time
	// after returns the due time that follows due; zero for none. It is
	// not used by triggers that count from the end of a run.
	after(due time.Time) time.Time
	// delay returns the pause after a run ends before the next is due,
	// for triggers that count from the end of a run (FixedDelay); 0 for
	// the others.
	delay() time.Duration
	// check returns the configuration error of the trigger, or nil.
	check() error
}

type once struct {
	d   time.Duration
	err error
}

// After returns a Trigger that runs a job once, d after it is added; 0 runs
// it at once. A negative d makes [Scheduler.Add] fail with an error matching
// ion.ErrInvalidConfig that names "delay".
func After(d time.Duration) Trigger {
	if d < 0 {
		return once{err: ion.NewConfigError("schedule", "delay", "must not be negative, got %v", d)}
	}
	return once{d: d}
}

func (t once) first(now time.Time) time.Time { return now.Add(t.d) }
func (once) after(time.Time) time.Time       { return time.Time{} }
func (once) delay() time.Duration            { return 0 }
func (t once) check() error                  { return t.err }

type rate struct {
	d   time.Duration
	err error
}

// FixedRate returns a Trigger that runs a job every d, first d after it is
// added: the due times are start+d, start+2d, ... whatever the runs take,
// so a slow run does not shift the ones after it (a run due while the
// previous one still runs is handled by the overlap policy: see
// [SkipIfRunning]). A d of zero or less makes [Scheduler.Add] fail with an
// error matching ion.ErrInvalidConfig that names "interval".
func FixedRate(d time.Duration) Trigger {
	if d <= 0 {
		return rate{err: ion.NewConfigError("schedule", "interval", "must be positive, got %v", d)}
	}
	return rate{d: d}
}

func (t rate) first(now time.Time) time.Time { return now.Add(t.d) }
func (t rate) after(due time.Time) time.Time { return due.Add(t.d) }
func (rate) delay() time.Duration            { return 0 }
func (t rate) check() error                  { return t.err }

type fixedDelay struct {
	d   time.Duration
	err error
}

// FixedDelay returns a Trigger that runs a job d after it is added, then
// d after each run ends: runs never overlap, and a slow run pushes the
// next one back. A d of zero or less makes [Scheduler.Add] fail with an
// error matching ion.ErrInvalidConfig that names "interval".
func FixedDelay(d time.Duration) Trigger {
	if d <= 0 {
		return fixedDelay{err: ion.NewConfigError("schedule", "interval", "must be positive, got %v", d)}
	}
	return fixedDelay{d: d}
}

func (t fixedDelay) first(now time.Time) time.Time { return now.Add(t.d) }
func (fixedDelay) after(time.Time) time.Time       { return time.Time{} }
func (t fixedDelay) delay() time.Duration          { return t.d }
func (t fixedDelay) check() error                  { return t.err }

// A *Cron is a Trigger: the job runs at each time [Cron.Next] gives.

func (c *Cron) first(now time.Time) time.Time { return c.Next(now) }
func (c *Cron) after(due time.Time) time.Time { return c.Next(due) }
func (c *Cron) delay() time.Duration          { return 0 }
func (c *Cron) check() error {
	if c == nil || c.loc == nil {
		return ion.NewConfigError("schedule", "trigger", "nil or zero *Cron: use ParseCron")
	}
	return nil
}
