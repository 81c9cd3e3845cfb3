package observe

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Recorder is an in-memory [Metrics], [Logger] and [Tracer] for tests. It
// keeps every series, log record and span so a test can inspect them with
// [Recorder.Count], [Recorder.Value], [Recorder.Observations],
// [Recorder.Logs] and [Recorder.Spans].
//
// Its instruments record with atomics (counters, gauges) or a short lock
// (histograms) and do not allocate per call beyond a histogram's growth. The
// zero value is not usable; call [NewRecorder]. A Recorder is safe for
// concurrent use by multiple goroutines.
type Recorder struct {
	// mu guards the fields below.
	mu     sync.Mutex
	series map[string]*series // keyed by seriesKey; created on first resolve
	logs   []LogRecord
	spans  []SpanRecord
}

// LogRecord is one call of [Recorder.Log].
type LogRecord struct {
	Level slog.Level
	Msg   string
	Attrs []slog.Attr
}

// SpanRecord is one span started by [Recorder.Start] and, once Ended is true,
// ended with Outcome and Err.
type SpanRecord struct {
	Name    string
	Ended   bool
	Outcome string
	Err     error
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{series: make(map[string]*series)}
}

type series struct {
	count atomic.Int64  // counters
	bits  atomic.Uint64 // gauges, as math.Float64bits

	mu  sync.Mutex // guards obs
	obs []float64  // histograms
}

func (s *series) Add(delta int64) { s.count.Add(delta) }
func (s *series) Set(v float64)   { s.bits.Store(math.Float64bits(v)) }
func (s *series) Observe(v float64) {
	s.mu.Lock()
	s.obs = append(s.obs, v)
	s.mu.Unlock()
}

// seriesKey renders name and labels sorted by key, so label order does not
// matter: name{k1=v1,k2=v2}.
func seriesKey(kind, name string, labels []Label) string {
	ls := slices.Clone(labels)
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Key, b.Key) })
	var sb strings.Builder
	sb.WriteString(kind)
	sb.WriteByte(':')
	sb.WriteString(name)
	sb.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(l.Key)
		sb.WriteByte('=')
		sb.WriteString(l.Value)
	}
	sb.WriteByte('}')
	return sb.String()
}

func (r *Recorder) get(kind, name string, labels []Label) *series {
	k := seriesKey(kind, name, labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.series[k]
	if !ok {
		s = new(series)
		r.series[k] = s
	}
	return s
}

// Counter implements [Metrics].
func (r *Recorder) Counter(name string, labels ...Label) Counter {
	return r.get("counter", name, labels)
}

// Gauge implements [Metrics].
func (r *Recorder) Gauge(name string, labels ...Label) Gauge {
	return r.get("gauge", name, labels)
}

// Histogram implements [Metrics].
func (r *Recorder) Histogram(name string, labels ...Label) Histogram {
	return r.get("histogram", name, labels)
}

// Count returns the value of the counter name with exactly labels (in any
// order), or 0 if it was never resolved.
func (r *Recorder) Count(name string, labels ...Label) int64 {
	return r.get("counter", name, labels).count.Load()
}

// Value returns the last value set on the gauge name with exactly labels, or
// 0 if it was never set.
func (r *Recorder) Value(name string, labels ...Label) float64 {
	return math.Float64frombits(r.get("gauge", name, labels).bits.Load())
}

// Observations returns a copy of the values observed by the histogram name
// with exactly labels, in the order they were observed.
func (r *Recorder) Observations(name string, labels ...Label) []float64 {
	s := r.get("histogram", name, labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.obs)
}

// Log implements [Logger].
func (r *Recorder) Log(_ context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	r.mu.Lock()
	r.logs = append(r.logs, LogRecord{Level: level, Msg: msg, Attrs: slices.Clone(attrs)})
	r.mu.Unlock()
}

// Logs returns a copy of the log records, oldest first.
func (r *Recorder) Logs() []LogRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.logs)
}

// Start implements [Tracer]. It returns ctx unchanged.
func (r *Recorder) Start(ctx context.Context, name string) (context.Context, Span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, SpanRecord{Name: name})
	return ctx, &recSpan{r: r, i: len(r.spans) - 1}
}

type recSpan struct {
	r *Recorder
	i int
}

func (s *recSpan) End(outcome string, err error) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	sp := &s.r.spans[s.i]
	sp.Ended, sp.Outcome, sp.Err = true, outcome, err
}

// Spans returns a copy of the spans, in the order they were started.
func (r *Recorder) Spans() []SpanRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}
