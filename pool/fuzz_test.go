package pool_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/pool"
)

// FuzzPool builds pools of arbitrary sizes and drives them with a script of
// operations. Properties: nothing panics, an invalid size fails closed, every
// error matches its sentinel, and after Close every accepted task is
// accounted for exactly once.
func FuzzPool(f *testing.F) {
	f.Add(1, 0, []byte{0, 1, 2, 3, 4, 5, 6})
	f.Add(0, 4, []byte{0, 0, 0, 0, 3, 3, 5, 1})
	f.Add(-5, 1, []byte{2, 2, 4, 6, 6, 0})
	f.Add(3, -1, []byte{0})
	f.Add(1<<30, 1<<30, []byte{0, 4, 0})
	f.Fuzz(func(t *testing.T, size, queueSize int, script []byte) {
		if len(script) > 64 {
			script = script[:64]
		}
		p := pool.New(size, queueSize)
		if size < 1 || queueSize < 0 {
			if !errors.Is(p.Err(), ion.ErrInvalidConfig) {
				t.Fatalf("New(%d, %d).Err() = %v, want ErrInvalidConfig", size, queueSize, p.Err())
			}
			if err := p.TrySubmit(nop); !errors.Is(err, ion.ErrInvalidConfig) {
				t.Fatalf("TrySubmit on an invalid pool = %v, must fail closed", err)
			}
			return
		}
		if p.Err() != nil {
			t.Fatalf("New(%d, %d).Err() = %v, want nil", size, queueSize, p.Err())
		}
		var accepted, ran atomic.Int64
		run := func(err error) pool.Task {
			return func(context.Context) error { ran.Add(1); return err }
		}
		ctx := context.Background()
		for _, op := range script {
			var err error
			switch op % 7 {
			case 0:
				if err = p.TrySubmit(run(nil)); err == nil {
					accepted.Add(1)
				} else if !errors.Is(err, pool.ErrQueueFull) {
					t.Fatalf("TrySubmit = %v, want nil or ErrQueueFull", err)
				}
			case 1:
				if err = p.TrySubmit(run(errors.New("x"))); err == nil {
					accepted.Add(1)
				}
			case 2:
				if err = p.TrySubmit(func(context.Context) error { ran.Add(1); panic("fuzz") }); err == nil {
					accepted.Add(1)
				}
			case 3:
				// Tasks never block, so a blocking Submit always ends.
				if err = p.Submit(ctx, run(nil)); err != nil {
					t.Fatalf("Submit = %v, want nil", err)
				}
				accepted.Add(1)
			case 4:
				n := int(op/7)%5 - 1
				err = p.Resize(n)
				if n <= 0 && !errors.Is(err, ion.ErrInvalidConfig) || n > 0 && err != nil {
					t.Fatalf("Resize(%d) = %v", n, err)
				}
			case 5:
				if err = p.Wait(ctx); err != nil {
					t.Fatalf("Wait = %v", err)
				}
			case 6:
				fut, err := pool.Go(ctx, p, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
				if err != nil {
					t.Fatalf("Go = %v", err)
				}
				accepted.Add(1)
				if v, err := fut.Wait(ctx); v != 1 || err != nil {
					t.Fatalf("Future.Wait = %v, %v", v, err)
				}
			}
		}
		n, err := p.Close(ctx)
		if n != 0 || err != nil {
			t.Fatalf("Close = %d, %v, want 0, nil", n, err)
		}
		m := p.Snapshot()
		done := m.Completed + m.Failed + m.Panicked
		if int64(done) != accepted.Load() || ran.Load() != accepted.Load() {
			t.Fatalf("accepted %d, ran %d, accounted %d (%+v): every accepted task must run exactly once",
				accepted.Load(), ran.Load(), done, m)
		}
		if m.Queued != 0 || m.Running != 0 || m.Workers != 0 || !m.Closed {
			t.Fatalf("after Close: %+v", m)
		}
	})
}

// FuzzQueueManagement builds pools with arbitrary CoDel and adaptive LIFO
// settings and drives them with a script of submissions. Properties: an
// invalid setting fails closed naming its option; with valid ones, after
// Close every accepted task ran or was shed, exactly once, and each shed
// task was reported with ErrShed.
func FuzzQueueManagement(f *testing.F) {
	f.Add(int64(1), int64(1000), 1, []byte{0, 0, 0, 1, 1, 2, 0, 0})
	f.Add(int64(0), int64(1000), 3, []byte{0})
	f.Add(int64(1000), int64(-1), 3, []byte{0})
	f.Add(int64(1000), int64(1000), 0, []byte{0})
	f.Add(int64(1), int64(1), 2, []byte{1, 1, 1, 1, 1, 1, 1, 1, 2})
	f.Fuzz(func(t *testing.T, target, interval int64, lifoAt int, script []byte) {
		if len(script) > 64 {
			script = script[:64]
		}
		var shed atomic.Int64
		p := pool.New(2, 4, pool.WithCoDel(time.Duration(target), time.Duration(interval)), pool.WithAdaptiveLIFO(lifoAt),
			pool.WithDiscardHandler(func(_ context.Context, _ pool.Task, err error) {
				if !errors.Is(err, pool.ErrShed) || !errors.Is(err, ion.ErrRejected) {
					t.Errorf("discard handler: %v, want ErrShed", err)
				}
				shed.Add(1)
			}))
		if target <= 0 || interval <= 0 || lifoAt < 1 {
			var ce *ion.ConfigError
			if !errors.As(p.Err(), &ce) {
				t.Fatalf("Err() = %v, want a ConfigError", p.Err())
			}
			want := "WithCoDel" // the first invalid option
			if target > 0 && interval > 0 {
				want = "WithAdaptiveLIFO"
			}
			if ce.Param != want {
				t.Fatalf("Err() names %q, want %q", ce.Param, want)
			}
			return
		}
		var accepted, ran atomic.Int64
		task := func(context.Context) error { ran.Add(1); return nil }
		for _, op := range script {
			switch op % 3 {
			case 0:
				if p.Submit(context.Background(), task) == nil {
					accepted.Add(1)
				}
			case 1:
				if p.TrySubmit(task) == nil {
					accepted.Add(1)
				}
			case 2:
				if err := p.Wait(context.Background()); err != nil {
					t.Fatalf("Wait = %v", err)
				}
			}
		}
		if n, err := p.Close(context.Background()); n != 0 || err != nil {
			t.Fatalf("Close = %d, %v, want 0, nil", n, err)
		}
		m := p.Snapshot()
		if ran.Load() != int64(m.Completed) || shed.Load() != int64(m.Shed) || accepted.Load() != int64(m.Completed+m.Shed) {
			t.Fatalf("accepted %d, ran %d, shed %d reported (%+v): each accepted task must run or be shed, once", accepted.Load(), ran.Load(), shed.Load(), m)
		}
	})
}
