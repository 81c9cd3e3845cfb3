package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/schedule"
)

func ExampleParseCron() {
	ny, _ := time.LoadLocation("America/New_York")
	c, err := schedule.ParseCron("0 9 * * MON-FRI", ny)
	if err != nil {
		fmt.Println(err)
		return
	}
	t := time.Date(2026, 1, 2, 12, 0, 0, 0, ny) // a Friday, noon
	for range 3 {
		t = c.Next(t)
		fmt.Println(t.Format("Mon Jan 2 15:04 MST"))
	}

	_, err = schedule.ParseCron("0 0 32 * *", ny)
	fmt.Println(err)
	// Output:
	// Mon Jan 5 09:00 EST
	// Tue Jan 6 09:00 EST
	// Wed Jan 7 09:00 EST
	// schedule: invalid configuration: day-of-month: 32 out of range 1-31
}

// Daylight-saving transitions: a time the clocks skip fires at the first
// instant after the gap, a time they repeat fires once.
func ExampleCron_Next() {
	ny, _ := time.LoadLocation("America/New_York")
	nightly, _ := schedule.ParseCron("30 2 * * *", ny)
	t := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	for range 2 {
		t = nightly.Next(t)
		fmt.Println(t.Format("Jan 2 15:04 MST"))
	}
	early, _ := schedule.ParseCron("30 1 * * *", ny)
	t = time.Date(2026, 10, 31, 12, 0, 0, 0, ny)
	for range 2 {
		t = early.Next(t)
		fmt.Println(t.Format("Jan 2 15:04 MST"))
	}
	// Output:
	// Mar 8 03:00 EDT
	// Mar 9 02:30 EDT
	// Nov 1 01:30 EDT
	// Nov 2 01:30 EST
}

func ExampleNew() {
	s := schedule.New()
	msg := make(chan string, 1)
	err := s.Add("greet", schedule.After(0), func(ctx context.Context) error {
		msg <- "hello from a job"
		return nil
	})
	fmt.Println("add:", err)
	fmt.Println(<-msg)

	// Stop starts no run, waits for the running ones, and reports how many
	// due runs it discarded.
	n, err := s.Stop(context.Background())
	fmt.Println("discarded:", n, "err:", err)
	j := s.Snapshot().Jobs[0]
	fmt.Println(j.Name, "runs:", j.Runs, "last error:", j.LastErr)
	fmt.Println(s.Add("late", schedule.After(0), func(context.Context) error { return nil }))
	// Output:
	// add: <nil>
	// hello from a job
	// discarded: 0 err: <nil>
	// greet runs: 1 last error: <nil>
	// schedule: stopped
}

func ExampleAfter() {
	s := schedule.New()
	defer s.Stop(context.Background())
	result := make(chan string)
	_ = s.Add("reminder", schedule.After(10*time.Millisecond), func(ctx context.Context) error {
		result <- "time is up"
		return nil
	})
	fmt.Println(<-result)
	// Output: time is up
}

func ExampleFixedRate() {
	s := schedule.New()
	var runs atomic.Int64
	three := make(chan struct{})
	_ = s.Add("heartbeat", schedule.FixedRate(time.Millisecond), func(ctx context.Context) error {
		if runs.Add(1) == 3 {
			close(three)
		}
		return nil
	})
	<-three
	_, err := s.Stop(context.Background())
	fmt.Println("three heartbeats; stop:", err)
	// Output: three heartbeats; stop: <nil>
}

func ExampleFixedDelay() {
	s := schedule.New()
	var mu sync.Mutex
	var ends []time.Time
	twice := make(chan struct{})
	// Each run starts 5ms after the previous one ended, however long it took.
	_ = s.Add("compact", schedule.FixedDelay(5*time.Millisecond), func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		ends = append(ends, time.Now())
		if len(ends) == 2 {
			close(twice)
		}
		return nil
	})
	<-twice
	_, _ = s.Stop(context.Background())
	mu.Lock()
	defer mu.Unlock()
	fmt.Println("gap of at least 5ms:", ends[1].Sub(ends[0]) >= 5*time.Millisecond)
	// Output: gap of at least 5ms: true
}

func ExampleWithPolicy() {
	s := schedule.New()
	var attempts atomic.Int64
	done := make(chan struct{})
	retry := policy.Retry[struct{}](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(time.Millisecond)))
	_ = s.Add("sync", schedule.After(0), func(ctx context.Context) error {
		if attempts.Add(1) < 3 {
			return errors.New("flaky")
		}
		close(done)
		return nil
	}, schedule.WithPolicy(retry))
	<-done
	_, _ = s.Stop(context.Background())
	j := s.Snapshot().Jobs[0]
	fmt.Println("attempts:", attempts.Load(), "runs:", j.Runs, "failures:", j.Failures)
	// Output: attempts: 3 runs: 1 failures: 0
}

// Stop with a deadline cancels the runs still going when it passes.
func ExampleScheduler_Stop() {
	s := schedule.New()
	started := make(chan struct{})
	cause := make(chan error, 1)
	_ = s.Add("export", schedule.After(0), func(ctx context.Context) error {
		close(started)
		<-ctx.Done() // a long export that honours its context
		cause <- context.Cause(ctx)
		return ctx.Err()
	})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := s.Stop(ctx)
	fmt.Println("stop:", err)
	fmt.Println("job saw:", <-cause)
	_, err = s.Stop(context.Background()) // waits for the cancelled run
	fmt.Println("stop again:", err)
	// Output:
	// stop: schedule: stop: context deadline exceeded
	// job saw: schedule: stopped
	// stop again: <nil>
}

// The overlap and missed-run policies are job options.
func ExampleScheduler_Add() {
	s := schedule.New()
	nightly, _ := schedule.ParseCron("CRON_TZ=Europe/Paris 0 3 * * *", nil)
	err := s.Add("backup", nightly, func(ctx context.Context) error { return nil },
		schedule.WithOverlap(schedule.QueueOne()),  // a run due while one runs waits for it
		schedule.WithMissed(schedule.RunMissed(2)), // after a suspension, catch up at most twice
		schedule.WithJitter(30*time.Second),        // spread the fleet's backups
	)
	fmt.Println("add:", err)
	err = s.Add("backup", schedule.FixedRate(-time.Second), func(ctx context.Context) error { return nil })
	fmt.Println(err)
	_, _ = s.Stop(context.Background())
	// Output:
	// add: <nil>
	// schedule: invalid configuration: interval: must be positive, got -1s
}
