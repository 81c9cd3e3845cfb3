package policy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// passThrough is the cheapest possible layer: it only calls next.
type passThrough[T any] struct{ name string }

func (p passThrough[T]) Execute(ctx context.Context, next policy.Next[T]) (T, error) {
	return next.Call(ctx)
}

func (p passThrough[T]) String() string { return p.name }

func answer(context.Context) (int, error) { return 42, nil }

func TestComposeZeroAllocs(t *testing.T) {
	p := policy.Compose[int](passThrough[int]{"a"}, passThrough[int]{"b"}, passThrough[int]{"c"})
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		v, err := p.Run(ctx, answer)
		if v != 42 || err != nil {
			t.Fatalf("Run = %v, %v, want 42, nil", v, err)
		}
	})
	assert.Zero(t, allocs, "a 3-layer pipeline of pass-through policies must add no allocation per call")

	allocs = testing.AllocsPerRun(1000, func() {
		_ = p.Do(ctx, func(context.Context) error { return nil })
	})
	assert.Zero(t, allocs, "Do through a 3-layer pipeline must add no allocation per call")
}

func TestComposeOrder(t *testing.T) {
	var order []string
	layer := func(name string) policy.Policy[string] {
		return policy.New(name, func(ctx context.Context, next policy.Next[string]) (string, error) {
			order = append(order, name+">")
			v, err := next.Call(ctx)
			order = append(order, "<"+name)
			return name + "(" + v + ")", err
		})
	}
	p := policy.Compose(layer("a"), layer("b"), layer("c"))
	v, err := p.Run(context.Background(), func(context.Context) (string, error) {
		order = append(order, "fn")
		return "fn", nil
	})
	require.NoError(t, err)
	assert.Equal(t, "a(b(c(fn)))", v, "Compose(a, b, c) must run fn as a(b(c(fn)))")
	assert.Equal(t, []string{"a>", "b>", "c>", "fn", "<c", "<b", "<a"}, order)
	assert.Equal(t, []string{"a", "b", "c"}, p.Layers())
	assert.Equal(t, "a → b → c → fn", p.String())
}

func TestComposeNested(t *testing.T) {
	inner := policy.Compose[int](passThrough[int]{"b"}, passThrough[int]{"c"})
	outer := policy.Compose[int](passThrough[int]{"a"}, inner, passThrough[int]{"d"})
	assert.Equal(t, []string{"a", "b", "c", "d"}, outer.Layers(), "a nested pipeline is flattened")
	v, err := outer.Run(context.Background(), answer)
	require.NoError(t, err)
	assert.Equal(t, 42, v)

	// A pipeline used as a layer through Execute with inner layers of its own.
	wrapped := policy.Compose[int](passThrough[int]{"x"}, inner.WithClassifier(nil), passThrough[int]{"y"})
	v, err = policy.Run[int](context.Background(), wrapped, answer)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
}

func TestComposeEmptyIsPassThrough(t *testing.T) {
	p := policy.Compose[int]()
	v, err := p.Run(context.Background(), answer)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	assert.Equal(t, "fn", p.String())
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	var nilPipeline *policy.Pipeline[int]
	tests := []struct {
		name string
		run  func() error
	}{
		{"nil layer", func() error {
			_, err := policy.Compose[int](passThrough[int]{"a"}, nil).Run(ctx, answer)
			return err
		}},
		{"nil nested pipeline", func() error {
			_, err := policy.Compose[int](nilPipeline).Run(ctx, answer)
			return err
		}},
		{"nil fn", func() error { _, err := policy.Compose[int]().Run(ctx, nil); return err }},
		{"nil ctx", func() error {
			var nilCtx context.Context // a nil ctx on purpose: Run must not panic
			_, err := policy.Compose[int]().Run(nilCtx, answer)
			return err
		}},
		{"nil do fn", func() error { return policy.Compose[int]().Do(ctx, nil) }},
		{"Run nil policy", func() error { _, err := policy.Run[int](ctx, nil, answer); return err }},
		{"Run nil fn", func() error { _, err := policy.Run[int](ctx, passThrough[int]{}, nil); return err }},
		{"Do nil policy", func() error { return policy.Do[int](ctx, nil, func(context.Context) error { return nil }) }},
		{"New nil fn", func() error { _, err := policy.Run(ctx, policy.New[int]("x", nil), answer); return err }},
		{"zero Next", func() error { _, err := policy.Next[int]{}.Call(ctx); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			var ce *ion.ConfigError
			assert.True(t, errors.As(err, &ce), "error must be a *ion.ConfigError naming the parameter")
		})
	}
	assert.ErrorIs(t, policy.Compose[int](nil).Err(), ion.ErrInvalidConfig)
	assert.Contains(t, policy.Compose[int](passThrough[int]{}, nil).String(), "layer 1")
}

func TestDoneContextFailsFast(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	fn := func(context.Context) (int, error) { called = true; return 1, nil }
	_, err := policy.Compose[int]().Run(ctx, fn)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = policy.Run[int](ctx, passThrough[int]{}, fn)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, policy.Do[int](ctx, passThrough[int]{}, func(context.Context) error { return nil }), context.Canceled)
	assert.ErrorIs(t, policy.Compose[int]().Do(ctx, func(context.Context) error { return nil }), context.Canceled)
	assert.False(t, called, "an already-done ctx must fail the call before fn runs")
}

func TestClassify(t *testing.T) {
	var got []policy.Outcome
	record := policy.New("record", func(ctx context.Context, next policy.Next[int]) (int, error) {
		v, err := next.Call(ctx)
		got = append(got, next.Classify(ctx, v, err))
		return v, err
	})
	boom := errors.New("boom")
	ctx := context.Background()
	p := policy.Compose(record)
	_, _ = p.Run(ctx, answer)
	_, _ = p.Run(ctx, func(context.Context) (int, error) { return 0, boom })
	// A 503 with a nil error is a Failure for a custom classifier.
	c := p.WithClassifier(func(v int, err error) policy.Outcome {
		if err != nil || v >= 500 {
			return policy.Failure
		}
		return policy.Success
	})
	_, _ = c.Run(ctx, func(context.Context) (int, error) { return 503, nil })
	_, _ = c.Run(ctx, func(context.Context) (int, error) { return 200, nil })
	// The caller's own cancellation is Ignored, even for a classifier.
	cctx, cancel := context.WithCancel(ctx)
	_, _ = c.Run(cctx, func(context.Context) (int, error) { cancel(); return 0, context.Canceled })
	// A rejection by an inner policy is Ignored, even for a classifier: it
	// says nothing about the dependency.
	_, _ = c.Run(ctx, func(context.Context) (int, error) { return 0, fmt.Errorf("inner: %w", ion.ErrRejected) })
	assert.Equal(t, []policy.Outcome{policy.Success, policy.Failure, policy.Failure, policy.Success, policy.Ignored, policy.Ignored}, got)
	assert.Equal(t, "success failure ignored Outcome(9)",
		policy.Success.String()+" "+policy.Failure.String()+" "+policy.Ignored.String()+" "+policy.Outcome(9).String())
}
