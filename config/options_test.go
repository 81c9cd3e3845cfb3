package config_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/observe"
)

func TestNew_sinks(t *testing.T) {
	rec := observe.NewRecorder()
	r, err := config.New(doc(t, `{
		"breakers": {"db": {}},
		"pipelines": {"p": {"retry": {"attempts": 1}, "breaker": "db", "timeout": {"after": "1s"}}}}`),
		config.WithMetrics(rec), config.WithTracer(rec), config.WithLogger(rec))
	require.NoError(t, err)
	defer r.Close(context.Background())
	p := config.Pipeline[string](r, "p")
	_, err = p.Run(context.Background(), succeed)
	require.NoError(t, err)

	assert.Equal(t, int64(1), rec.Count("ion_breaker_calls_total",
		observe.Label{Key: "name", Value: "db"}, observe.Label{Key: "outcome", Value: "success"}),
		"the breaker records its metrics under its name in the document")
	var names []string
	for _, s := range rec.Spans() {
		names = append(names, s.Name)
	}
	assert.Contains(t, names, "breaker(db)", "the breaker traces")
	assert.Len(t, names, 3, "each of the three layers starts a span: %v", names)
}

func TestNew_nilSink(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  config.Option
	}{
		{"WithMetrics", config.WithMetrics(nil)},
		{"WithLogger", config.WithLogger(nil)},
		{"WithTracer", config.WithTracer(nil)},
	} {
		r, err := config.New(config.Document{}, tc.opt)
		assert.Nil(t, r)
		assert.ErrorIs(t, err, ion.ErrInvalidConfig)
		assert.Equal(t, []string{tc.name}, params(t, err), "the error names the option")
	}
}
