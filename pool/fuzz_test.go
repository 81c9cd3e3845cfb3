package pool_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

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
