package observe

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Recorder is an in-memory [Metrics], [Logger] and [Tracer] for tests. It
// keeps every series, log record and span so a test can inspect them with
// [Recorder.Count], [Recorder.Value], [Recorder.Observations],
// [Recorder.Logs] and [Recorder.Spans].
//
// A series is identified by its kind (counter, gauge, histogram), its name
// and its set of labels; the order in which labels are passed does not
// matter. Resolving the same series twice returns instruments that record
// into the same place, as [Metrics] requires. Reading a series that was never
// resolved ([Recorder.Count] and friends) reports its zero value and does not
// create it.
//
// Its instruments record with atomics (counters, gauges) or a short lock
// (histograms) and do not allocate per call beyond a histogram's amortized
// growth: a histogram keeps every observation, so memory grows with the
// number of observations. Resolving an instrument, logging and starting a
// span take the Recorder's lock and allocate; they are meant for tests, not
// hot paths.
//
// The zero value is an empty Recorder ready to use; [NewRecorder] returns
// one too. A Recorder is safe for concurrent use by multiple goroutines.
type Recorder struct {
	// mu guards the fields below.
	mu     sync.Mutex
	series map[string]*series // keyed by seriesKey; created on first resolve, lazily initialized
	logs   []LogRecord        // appended by Log
	spans  []SpanRecord       // appended by Start, updated in place by End
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

// NewRecorder returns an empty Recorder. It is equivalent to new(Recorder).
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

// seriesKey renders kind, name and labels sorted by key (then value, so
// that repeated keys sort deterministically), so label order does not
// matter. Every part is quoted: a label value that contains a separator
// ("a" = "1,b=2") cannot collide with two labels (a=1, b=2), which the
// unquoted form name{a=1,b=2} allowed.
func seriesKey(kind, name string, labels []Label) string {
	ls := slices.Clone(labels)
	slices.SortFunc(ls, func(a, b Label) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	b := make([]byte, 0, 64)
	b = append(b, kind...)
	b = append(b, ':')
	b = strconv.AppendQuote(b, name)
	for _, l := range ls {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, l.Key)
		b = append(b, '=')
		b = strconv.AppendQuote(b, l.Value)
	}
	return string(b)
}

// get returns the series for kind, name and labels, creating it if needed.
func (r *Recorder) get(kind, name string, labels []Label) *series {
	k := seriesKey(kind, name, labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.series[k]
	if !ok {
		if r.series == nil {
			r.series = make(map[string]*series)
		}
		s = new(series)
		r.series[k] = s
	}
	return s
}

// lookup returns the series for kind, name and labels, or nil if it was
// never resolved. Reading must not create series: a test asserting that a
// counter is 0 would otherwise make it look resolved.
func (r *Recorder) lookup(kind, name string, labels []Label) *series {
	k := seriesKey(kind, name, labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.series[k]
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
	if s := r.lookup("counter", name, labels); s != nil {
		return s.count.Load()
	}
	return 0
}

// Value returns the last value set on the gauge name with exactly labels (in
// any order), or 0 if it was never set.
func (r *Recorder) Value(name string, labels ...Label) float64 {
	if s := r.lookup("gauge", name, labels); s != nil {
		return math.Float64frombits(s.bits.Load())
	}
	return 0
}

// Observations returns a copy of the values observed by the histogram name
// with exactly labels (in any order), in the order they were observed, or
// nil if it was never resolved.
func (r *Recorder) Observations(name string, labels ...Label) []float64 {
	s := r.lookup("histogram", name, labels)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.obs)
}

// Log implements [Logger]. It keeps a copy of attrs.
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

// Start implements [Tracer]. It records a span named name, not yet ended,
// and returns ctx unchanged with a [Span] whose End records the outcome and
// error in place. Calling End more than once keeps the last values.
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
