package pool

// ErrGoexit is the value of the PanicError reported for a task that called
// runtime.Goexit.
var ErrGoexit = errGoexit
