package pool

import "runtime"

// ErrGoexit is the value of the PanicError reported for a task that called
// runtime.Goexit.
var ErrGoexit = errGoexit

// WithStartHook makes every worker woken with a task call f before it
// counts itself started, so that a test can hold workers "on their way".
func WithStartHook(f func()) Option {
	return optionFunc(func(c *config) { c.startHook = f })
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
