package pool_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/pool"
)

func TestGo(t *testing.T) {
	p := newPool(t, 2, 2)
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      policy.Func[int]
		want    int
		wantErr error
	}{
		{"value", func(context.Context) (int, error) { return 7, nil }, 7, nil},
		{"error", func(context.Context) (int, error) { return 0, errBoom }, 0, errBoom},
		{"value and error", func(context.Context) (int, error) { return 3, errBoom }, 3, errBoom},
		{"panic", func(context.Context) (int, error) { panic(errBoom) }, 0, errBoom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := pool.Go(context.Background(), p, tc.fn)
			require.NoError(t, err)
			<-f.Done()
			v, err := f.Wait(context.Background())
			assert.Equal(t, tc.want, v)
			assert.ErrorIs(t, err, tc.wantErr)
			v2, err2 := f.Wait(context.Background())
			assert.Equal(t, v, v2, "Wait may be called again")
			assert.Equal(t, err, err2)
		})
	}
	f, err := pool.Go(context.Background(), p, func(context.Context) (int, error) { panic("p") })
	require.NoError(t, err)
	_, err = f.Wait(context.Background())
	var pe *ion.PanicError
	require.ErrorAs(t, err, &pe, "a panic reaches the Go caller as a *ion.PanicError")
	assert.Equal(t, "p", pe.Value)
	require.NoError(t, p.Wait(context.Background()))
	m := p.Snapshot()
	assert.Equal(t, uint64(1), m.Completed)
	assert.Equal(t, uint64(2), m.Failed)
	assert.Equal(t, uint64(2), m.Panicked)
}

func TestGoBadInput(t *testing.T) {
	p := pool.New(1, 1)
	fn := func(context.Context) (int, error) { return 1, nil }
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pool.Go(context.Background(), nil, fn)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "nil pool")
	_, err = pool.Go[int](context.Background(), p, nil)
	assert.ErrorIs(t, err, pool.ErrNilTask, "nil fn")
	_, err = pool.Go(nilCtx, p, fn)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "nil ctx")
	_, err = pool.Go(done, p, fn)
	assert.ErrorIs(t, err, context.Canceled, "done ctx")
	_, err = p.Close(context.Background())
	require.NoError(t, err)
	_, err = pool.Go(context.Background(), p, fn)
	assert.ErrorIs(t, err, pool.ErrClosed, "closed pool")
	assert.ErrorIs(t, err, ion.ErrRejected)
}

func TestFutureWaitCtx(t *testing.T) {
	p := newPool(t, 1, 1)
	release := make(chan struct{})
	f, err := pool.Go(context.Background(), p, func(context.Context) (string, error) {
		<-release
		return "late", nil
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = f.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled, "Wait returns when its ctx ends")
	close(release)
	v, err := f.Wait(context.Background())
	require.NoError(t, err, "the call is not affected by a Wait's ctx")
	assert.Equal(t, "late", v)
	v, err = f.Wait(ctx)
	assert.NoError(t, err, "a ready result is returned even with a done ctx")
	assert.Equal(t, "late", v)
}
