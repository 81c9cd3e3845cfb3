package pool

import (
	"runtime"
	"time"
)

// ErrGoexit is the value of the PanicError reported for a task that called
// runtime.Goexit.
var ErrGoexit = errGoexit

// WithStartHook makes every worker woken with a task call f before it
// counts itself started, so that a test can hold workers "on their way".
func WithStartHook(f func()) Option {
	return fixed("WithStartHook", func(c *config) { c.startHook = f })
}

// WakeLimit is the number of workers that may be on their way at once in a
// pool created now.
func WakeLimit() int { return max(2, runtime.GOMAXPROCS(0)) }

// SetAside returns the number of tasks set aside for idle workers.
func SetAside(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready.len()
}

// Settings are a pool's queue settings in force, for tests that check what
// Reconfigure changed.
type Settings struct {
	LIFOAt                     int
	MaxWait, IdleTimeout       time.Duration
	CoDelTarget, CoDelInterval time.Duration
	Stamp                      bool
}

// SettingsOf returns the settings of p in force.
func SettingsOf(p *Pool) Settings {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Settings{
		LIFOAt: p.lifoAt, MaxWait: p.maxWait, IdleTimeout: p.idleTimeout,
		CoDelTarget: p.codel.Target, CoDelInterval: p.codel.Interval, Stamp: p.stamp.Load(),
	}
}
