package ion_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ionkit/ion"
)

// limitedError is a rejection that carries its Retry-After, like
// limit.LimitedError and breaker.OpenError.
type limitedError struct{ wait time.Duration }

func (e *limitedError) Error() string             { return "limited" }
func (e *limitedError) RetryAfter() time.Duration { return e.wait }
func (e *limitedError) Is(target error) bool      { return target == ion.ErrRejected }

func ExampleRetryAfter() {
	err := fmt.Errorf("calling inventory: %w", &limitedError{wait: 250 * time.Millisecond})
	if errors.Is(err, ion.ErrRejected) {
		d, ok := ion.RetryAfter(err)
		fmt.Println("rejected; come back in", d, ok)
	}
	_, ok := ion.RetryAfter(errors.New("connection reset"))
	fmt.Println(ok)
	// Output:
	// rejected; come back in 250ms true
	// false
}

func ExampleNewConfigError() {
	err := ion.NewConfigError("mypolicy", "threshold", "must be at least 1, got %d", 0)
	fmt.Println(err)
	fmt.Println(errors.Is(err, ion.ErrInvalidConfig))
	var ce *ion.ConfigError
	if errors.As(err, &ce) {
		fmt.Println("parameter:", ce.Param)
	}
	// Output:
	// mypolicy: invalid configuration: threshold: must be at least 1, got 0
	// true
	// parameter: threshold
}

func ExampleNewPanicError() {
	run := func(task func()) (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = ion.NewPanicError(v)
			}
		}()
		task()
		return nil
	}
	err := run(func() { panic("index out of range") })
	var pe *ion.PanicError
	fmt.Println(errors.As(err, &pe), pe.Value)
	// Output:
	// true index out of range
}
