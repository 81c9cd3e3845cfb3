package ionotel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
)

// Metrics is an observe.Metrics over an OpenTelemetry metric.Meter. Build it
// with [NewMetrics]; the zero value is not usable. Resolution takes a lock
// and allocates; the instruments it returns record without either (beyond
// the SDK's own cost). A Metrics is safe for concurrent use by multiple
// goroutines.
type Metrics struct {
	meter metric.Meter
	err   error // the configuration error: nil meter

	// mu guards the fields below.
	mu    sync.Mutex
	insts map[string]instrument // by metric name, created on first resolution
	errs  []error               // resolutions that returned a no-op instrument, in order
}

// instrument is one OpenTelemetry instrument and the kind it was created as.
type instrument struct {
	kind observe.Kind
	c    metric.Int64Counter
	g    metric.Float64Gauge
	h    metric.Float64Histogram
}

// NewMetrics returns a Metrics that creates Ion's instruments with meter,
// which must not be nil; each is created when first resolved (see the
// package doc). A nil meter leaves the returned Metrics broken:
// [Metrics.Err] reports it, every Ion option refuses it, and its
// instruments record nothing. NewMetrics never panics.
func NewMetrics(meter metric.Meter) *Metrics {
	m := &Metrics{meter: meter, insts: make(map[string]instrument)}
	if meter == nil {
		m.err = ion.NewConfigError("ionotel", "meter", "nil metric.Meter")
	}
	return m
}

// Err returns the configuration error that makes every Ion option refuse
// m, or nil. It matches ion.ErrInvalidConfig. A nil or zero *Metrics
// reports an error too, so an option refuses it rather than panic on it.
func (m *Metrics) Err() error {
	if m == nil || (m.err == nil && m.meter == nil) {
		return ion.NewConfigError("ionotel", "Metrics", "nil *ionotel.Metrics, or a zero one; build one with NewMetrics")
	}
	return m.err
}

// ResolveErr returns the resolutions so far that could not be honoured and
// returned an instrument that records nothing (see the package doc), joined
// in the order they happened, or nil.
func (m *Metrics) ResolveErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// Counter implements observe.Metrics: an Int64Counter with the labels as
// its attribute set. A negative delta, which a counter cannot take, is
// ignored.
func (m *Metrics) Counter(name string, labels ...observe.Label) observe.Counter {
	in, ok := m.instrument(observe.KindCounter, name, labels)
	if !ok {
		return nop{}
	}
	return &counter{c: in.c, opts: []metric.AddOption{metric.WithAttributeSet(set(labels))}}
}

// Gauge implements observe.Metrics: a Float64Gauge with the labels as its
// attribute set.
func (m *Metrics) Gauge(name string, labels ...observe.Label) observe.Gauge {
	in, ok := m.instrument(observe.KindGauge, name, labels)
	if !ok {
		return nop{}
	}
	return &gauge{g: in.g, opts: []metric.RecordOption{metric.WithAttributeSet(set(labels))}}
}

// Histogram implements observe.Metrics: a Float64Histogram with the
// catalog's bucket boundaries and the labels as its attribute set.
func (m *Metrics) Histogram(name string, labels ...observe.Label) observe.Histogram {
	in, ok := m.instrument(observe.KindHistogram, name, labels)
	if !ok {
		return nop{}
	}
	return &histogram{h: in.h, opts: []metric.RecordOption{metric.WithAttributeSet(set(labels))}}
}

// instrument returns the instrument of metric name, creating it on first
// use. A failure is recorded for ResolveErr.
func (m *Metrics) instrument(kind observe.Kind, name string, labels []observe.Label) (instrument, bool) {
	if m.err != nil {
		return instrument{}, false // reported by Err, and refused by every Ion option
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in, err := m.instrumentLocked(kind, name)
	if err != nil {
		m.errs = append(m.errs, fmt.Errorf("ionotel: %s %s%v: %w", kind, name, labels, err))
		return instrument{}, false
	}
	return in, true
}

// instrumentLocked does the work of instrument; it must be called with m.mu
// held.
func (m *Metrics) instrumentLocked(kind observe.Kind, name string) (instrument, error) {
	if in, ok := m.insts[name]; ok {
		if in.kind != kind {
			return instrument{}, fmt.Errorf("created as a %s", in.kind)
		}
		return in, nil
	}
	d, known := observe.Lookup(name)
	if known && d.Kind != kind {
		return instrument{}, fmt.Errorf("the catalog has it as a %s", d.Kind)
	}
	in := instrument{kind: kind}
	var err error
	switch kind {
	case observe.KindCounter:
		in.c, err = m.meter.Int64Counter(name, metric.WithDescription(d.Help))
	case observe.KindGauge:
		in.g, err = m.meter.Float64Gauge(name, metric.WithDescription(d.Help))
	default:
		opts := []metric.Float64HistogramOption{metric.WithDescription(d.Help)}
		if known {
			opts = append(opts, metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(d.Buckets...))
		}
		in.h, err = m.meter.Float64Histogram(name, opts...)
	}
	if err != nil {
		return instrument{}, err
	}
	m.insts[name] = in
	return in, nil
}

// set returns the attribute set of labels.
func set(labels []observe.Label) attribute.Set {
	kvs := make([]attribute.KeyValue, len(labels))
	for i, l := range labels {
		kvs[i] = attribute.String(l.Key, l.Value)
	}
	return attribute.NewSet(kvs...)
}

// background is the context of every measurement: observe's instruments
// take none, and Ion records outside any request's span.
var background = context.Background()

type counter struct {
	c    metric.Int64Counter
	opts []metric.AddOption // the attribute set, built once
}

func (c *counter) Add(delta int64) {
	if delta > 0 {
		c.c.Add(background, delta, c.opts...)
	}
}

type gauge struct {
	g    metric.Float64Gauge
	opts []metric.RecordOption
}

func (g *gauge) Set(v float64) { g.g.Record(background, v, g.opts...) }

type histogram struct {
	h    metric.Float64Histogram
	opts []metric.RecordOption
}

func (h *histogram) Observe(v float64) { h.h.Record(background, v, h.opts...) }

// nop is the instrument of a resolution that failed: it records nothing.
type nop struct{}

func (nop) Add(int64)       {}
func (nop) Set(float64)     {}
func (nop) Observe(float64) {}
