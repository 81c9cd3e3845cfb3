package pool

import "runtime"

// ErrGoexit is the value of the PanicError reported for a task that called
// runtime.Goexit.
var ErrGoexit = errGoexit

// SetStartHook makes every worker of p woken with a task call f before it
// counts itself started, so that a test can hold workers "on their way".
// It must be called before p's first submission.
func SetStartHook(p *Pool, f func()) { p.testStart = f }

// WakeLimit is the number of workers that may be on their way at once in a
// pool created now.
func WakeLimit() int { return max(2, runtime.GOMAXPROCS(0)) }

// SetAside returns the number of tasks set aside for idle workers.
func SetAside(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready.len()
}
