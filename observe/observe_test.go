package observe_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/observe"
)

// noTime drops the time attribute so log lines are deterministic.
func noTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestSlogWritesThroughHandler(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime})
	lg := observe.Slog(slog.New(h).With("component", "ion"))
	require.NotNil(t, lg)

	ctx := context.Background()
	lg.Log(ctx, slog.LevelDebug, "dropped below the handler's level")
	lg.Log(ctx, slog.LevelWarn, "breaker opened", slog.String("name", "db"), slog.Int("failures", 5))
	lg.Log(ctx, slog.LevelError, "no attrs")
	assert.Equal(t,
		"level=WARN msg=\"breaker opened\" component=ion name=db failures=5\n"+
			"level=ERROR msg=\"no attrs\" component=ion\n",
		buf.String(), "each Log is one record with the logger's attributes, the level and the attrs")
}

func TestSlogGroups(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime})
	observe.Slog(slog.New(h).WithGroup("ion")).Log(context.Background(), slog.LevelInfo, "m", slog.String("k", "v"))
	assert.Equal(t, "level=INFO msg=m ion.k=v\n", buf.String(), "the logger's groups apply to the attrs")
}

// TestSlogSource guards against the adapter reporting itself as the source
// of every record (what slog.Logger.LogAttrs called from the adapter does).
func TestSlogSource(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{AddSource: true})
	var src *slog.Source
	h2 := sourceHandler{Handler: h, got: &src}
	observe.Slog(slog.New(h2)).Log(context.Background(), slog.LevelInfo, "here")
	require.NotNil(t, src)
	assert.Equal(t, "observe_test.go", filepath.Base(src.File), "the source must be the caller of Log, got %s:%d", src.File, src.Line)
	assert.Contains(t, src.Function, "TestSlogSource")
}

type sourceHandler struct {
	slog.Handler
	got **slog.Source
}

func (h sourceHandler) Handle(ctx context.Context, r slog.Record) error {
	*h.got = r.Source()
	return h.Handler.Handle(ctx, r)
}

// ctxHandler fails the test if a handler is ever given a nil ctx.
type ctxHandler struct {
	t     *testing.T
	calls *int
}

func (h ctxHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	assert.NotNil(h.t, ctx, "Enabled must never see a nil ctx")
	return true
}

func (h ctxHandler) Handle(ctx context.Context, _ slog.Record) error {
	assert.NotNil(h.t, ctx, "Handle must never see a nil ctx")
	*h.calls++
	return nil
}
func (h ctxHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h ctxHandler) WithGroup(string) slog.Handler      { return h }

func TestSlogNilContext(t *testing.T) {
	var calls int
	lg := observe.Slog(slog.New(ctxHandler{t: t, calls: &calls}))
	var nilCtx context.Context // a nil ctx on purpose: the adapter must not hand it on
	lg.Log(nilCtx, slog.LevelInfo, "m")
	assert.Equal(t, 1, calls)
}

func TestSlogNil(t *testing.T) {
	assert.Nil(t, observe.Slog(nil), "Slog(nil) must return a nil Logger so options can reject it")
}
