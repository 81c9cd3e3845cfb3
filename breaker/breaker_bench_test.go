package breaker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func ok(context.Context) (int, error) { return 1, nil }

// BenchmarkClosedSuccess measures a successful call through a closed breaker
// with the adapter and policy.Run, against a direct call and a mutex-guarded
// counter (the stdlib baseline for "count every call").
func BenchmarkClosedSuccess(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name string
		opts []breaker.Option
	}{
		{"consecutive", nil},
		{"count-window", []breaker.Option{breaker.WithFailureRate(0.5)}},
		{"time-window", []breaker.Option{breaker.WithTimeWindow(10*time.Second, 10, 10)}},
		{"slow-calls", []breaker.Option{breaker.WithSlowCalls(time.Second, 0.5)}},
		{"metrics", []breaker.Option{breaker.WithMetrics(observe.NewRecorder())}},
	}
	for _, tc := range cases {
		p := breaker.Policy[int](breaker.New("bench", tc.opts...))
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := policy.Run(ctx, p, ok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := policy.Run(ctx, p, ok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
	// The cost of policy.Run through a layer that only calls next: what any
	// policy pays before doing its own work.
	pass := policy.New("pass", func(ctx context.Context, next policy.Next[int]) (int, error) { return next.Call(ctx) })
	b.Run("baseline/pass-through-policy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := policy.Run(ctx, pass, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline/direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ok(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	var mu sync.Mutex
	var n int
	b.Run("baseline/mutex", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			n++
			mu.Unlock()
			_, _ = ok(ctx)
		}
	})
	b.Run("baseline/mutex/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				n++
				mu.Unlock()
				_, _ = ok(ctx)
			}
		})
	})
}

// BenchmarkAllowDone measures the two-step form in the closed state, against
// one shared atomic add per call (the stdlib baseline for "count every
// call"; a closed success is one compare-and-swap on one shared word).
func BenchmarkAllowDone(b *testing.B) {
	cb := breaker.New("bench")
	allowDone := func() {
		t, err := cb.Allow()
		if err != nil {
			b.Fatal(err)
		}
		t.Done(policy.Success)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			allowDone()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				allowDone()
			}
		})
	})
	var n atomic.Int64
	b.Run("baseline/atomic-add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n.Add(1)
		}
	})
	b.Run("baseline/atomic-add/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
}

// BenchmarkOpenReject measures a rejected call through an open breaker.
func BenchmarkOpenReject(b *testing.B) {
	ctx := context.Background()
	cb := breaker.New("bench", breaker.WithConsecutiveFailures(1), breaker.WithOpenDuration(time.Hour))
	p := breaker.Policy[int](cb)
	_, _ = policy.Run(ctx, p, func(context.Context) (int, error) { return 0, errors.New("boom") })
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := policy.Run(ctx, p, ok); !errors.Is(err, breaker.ErrOpen) {
				b.Fatal(err)
			}
		}
	})
	cb.Trip()
	b.Run("forced-open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := policy.Run(ctx, p, ok); !errors.Is(err, breaker.ErrOpen) {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkState measures State in the closed state.
func BenchmarkState(b *testing.B) {
	cb := breaker.New("bench")
	b.ReportAllocs()
	for b.Loop() {
		if cb.State() != breaker.Closed {
			b.Fatal("not closed")
		}
	}
}
