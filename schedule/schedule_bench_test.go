package schedule_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion/schedule"
)

// BenchmarkDispatch measures scheduling a one-shot job due at once, running
// it on the scheduler's pool and removing it: the cost a scheduler adds
// around a job, beside time.AfterFunc and a bare goroutine doing the same
// hand-off.
func BenchmarkDispatch(b *testing.B) {
	b.Run("impl=go", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		for b.Loop() {
			go func() { done <- struct{}{} }()
			<-done
		}
	})
	b.Run("impl=time.AfterFunc", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan struct{})
		for b.Loop() {
			time.AfterFunc(0, func() { done <- struct{}{} })
			<-done
		}
	})
	b.Run("impl=schedule", func(b *testing.B) {
		b.ReportAllocs()
		s := schedule.New()
		defer s.Stop(context.Background())
		done := make(chan struct{})
		job := func(context.Context) error { done <- struct{}{}; return nil }
		for b.Loop() {
			if err := s.Add("job", schedule.After(0), job); err != nil {
				b.Fatal(err)
			}
			<-done
			s.Remove("job")
		}
	})
	b.Run("impl=schedule/parallel", func(b *testing.B) {
		b.ReportAllocs()
		s := schedule.New()
		defer s.Stop(context.Background())
		var id atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			name := "job" + strconv.FormatInt(id.Add(1), 10)
			done := make(chan struct{})
			job := func(context.Context) error { done <- struct{}{}; return nil }
			for pb.Next() {
				if err := s.Add(name, schedule.After(0), job); err != nil {
					b.Fatal(err)
				}
				<-done
				s.Remove(name)
			}
		})
	})
}

// BenchmarkFixedRate measures the steady state of 100 fixed-rate jobs due
// together every 10µs: the time per run through one scheduler, the loop's
// cost per due run included. (With one job the figure is the timer's
// resolution, not the scheduler's cost.)
func BenchmarkFixedRate(b *testing.B) {
	for _, jobs := range []int{100} {
		b.Run("jobs="+strconv.Itoa(jobs), func(b *testing.B) {
			b.ReportAllocs()
			s := schedule.New()
			var runs atomic.Int64
			target := int64(b.N)
			done := make(chan struct{})
			job := func(context.Context) error {
				if runs.Add(1) == target {
					close(done)
				}
				return nil
			}
			for i := range jobs {
				if err := s.Add("job"+strconv.Itoa(i), schedule.FixedRate(10*time.Microsecond), job, schedule.WithOverlap(schedule.AllowConcurrent(4))); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			<-done
			b.StopTimer()
			_, _ = s.Stop(context.Background())
		})
	}
}
