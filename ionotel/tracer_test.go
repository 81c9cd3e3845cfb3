package ionotel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/internal/workload"
	"github.com/ionkit/ion/ionotel"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func newTracer(t testing.TB) (*tracetest.InMemoryExporter, trace.Tracer, *ionotel.Tracer) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := ionotel.NewTracer(tp.Tracer("github.com/ionkit/ion"))
	if err := tr.Err(); err != nil {
		t.Fatalf("NewTracer: %v", err)
	}
	return exp, tp.Tracer("test"), tr
}

var errDown = errors.New("dependency down")

// attr returns the value of attribute k of s, or "" if s has none.
func attr(s tracetest.SpanStub, k attribute.Key) string {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value.String()
		}
	}
	return ""
}

// byName returns the spans named name, in the order they ended.
func byName(spans tracetest.SpanStubs, prefix string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func isChild(child, parent tracetest.SpanStub) bool {
	return child.Parent.SpanID() == parent.SpanContext.SpanID() &&
		child.SpanContext.TraceID() == parent.SpanContext.TraceID()
}

// TestRetrySpans runs one request through Retry, a breaker, a bulkhead and
// a Timeout, all traced, whose first attempt fails: the Retry span is a
// child of the request's span, each attempt is a breaker span under it (the
// second with ion.attempt=2), and the bulkhead and Timeout spans nest
// inside, with outcomes, errors and statuses as documented.
func TestRetrySpans(t *testing.T) {
	exp, app, tr := newTracer(t)
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("payments", breaker.WithTracer(tr))
		bulkhead := sem.NewWeighted(2, sem.WithTracer(tr), sem.WithName("db"))
		p := policy.Compose(
			policy.Retry[string](policy.WithName("fetch"), policy.WithTracer(tr),
				policy.WithAttempts(3), policy.WithBackoff(policy.Constant(10*time.Millisecond))),
			breaker.Policy[string](b),
			sem.Policy[string](bulkhead),
			policy.Timeout[string](time.Second, policy.WithName("call"), policy.WithTracer(tr)),
		)
		ctx, root := app.Start(t.Context(), "request")
		calls := 0
		v, err := p.Run(ctx, func(context.Context) (string, error) {
			if calls++; calls == 1 {
				return "", errDown
			}
			return "ok", nil
		})
		root.End()
		if v != "ok" || err != nil {
			t.Fatalf("Run = %q, %v", v, err)
		}
	})
	spans := exp.GetSpans()
	request := byName(spans, "request")
	retry := byName(spans, "retry(")
	breakers := byName(spans, "breaker(")
	bulkheads := byName(spans, "bulkhead(")
	timeouts := byName(spans, "timeout(")
	if len(request) != 1 || len(retry) != 1 || len(breakers) != 2 || len(bulkheads) != 2 || len(timeouts) != 2 {
		t.Fatalf("spans: %d request, %d retry, %d breaker, %d bulkhead, %d timeout; want 1, 1, 2, 2, 2 (all: %v)",
			len(request), len(retry), len(breakers), len(bulkheads), len(timeouts), names(spans))
	}
	if !isChild(retry[0], request[0]) {
		t.Error("the retry span is not a child of the caller's span")
	}
	if got := attr(retry[0], ionotel.OutcomeKey); got != "success" {
		t.Errorf("retry outcome %q, want success", got)
	}
	for i, want := range []struct {
		outcome, attempt string
		status           codes.Code
	}{{"failure", "", codes.Error}, {"success", "2", codes.Unset}} {
		for _, s := range []tracetest.SpanStub{breakers[i], bulkheads[i], timeouts[i]} {
			if got := attr(s, ionotel.OutcomeKey); got != want.outcome {
				t.Errorf("attempt %d: %s outcome %q, want %q", i+1, s.Name, got, want.outcome)
			}
			if s.Status.Code != want.status {
				t.Errorf("attempt %d: %s status %v, want %v", i+1, s.Name, s.Status.Code, want.status)
			}
			if s.SpanKind != trace.SpanKindInternal {
				t.Errorf("%s: kind %v, want internal", s.Name, s.SpanKind)
			}
		}
		if got := attr(breakers[i], ionotel.AttemptKey); got != want.attempt {
			t.Errorf("attempt %d: ion.attempt %q, want %q", i+1, got, want.attempt)
		}
		if !isChild(breakers[i], retry[0]) || !isChild(bulkheads[i], breakers[i]) || !isChild(timeouts[i], bulkheads[i]) {
			t.Errorf("attempt %d: spans do not nest retry > breaker > bulkhead > timeout", i+1)
		}
	}
	if s := breakers[0]; s.Status.Description != errDown.Error() || len(s.Events) != 1 || s.Events[0].Name != "exception" {
		t.Errorf("failed attempt: status %q, events %v; want the error's text and one exception event", s.Status.Description, s.Events)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestHedgeSpans checks that hedged attempts are sibling child spans of the
// Hedge span, overlapping in time: the slow first attempt, cancelled when
// the hedge wins, ends Ignored with the status left Unset; the hedge carries
// ion.attempt=2.
func TestHedgeSpans(t *testing.T) {
	exp, app, tr := newTracer(t)
	synctest.Test(t, func(t *testing.T) {
		p := policy.Compose(
			policy.Hedge[string](50*time.Millisecond, policy.WithName("search"), policy.WithTracer(tr)),
			policy.Timeout[string](time.Second, policy.WithName("call"), policy.WithTracer(tr)),
		)
		ctx, root := app.Start(t.Context(), "request")
		v, err := p.Run(ctx, func(ctx context.Context) (string, error) {
			if policy.Attempt(ctx) == 1 {
				<-ctx.Done()
				return "", ctx.Err()
			}
			return "hedge", nil
		})
		root.End()
		if v != "hedge" || err != nil {
			t.Fatalf("Run = %q, %v", v, err)
		}
	})
	spans := exp.GetSpans()
	hedge := byName(spans, "hedge(")
	attempts := byName(spans, "timeout(")
	if len(hedge) != 1 || len(attempts) != 2 {
		t.Fatalf("spans %v; want one hedge and two attempts", names(spans))
	}
	byAttempt := map[string]tracetest.SpanStub{}
	for _, s := range attempts {
		if !isChild(s, hedge[0]) {
			t.Errorf("%s (attempt %q) is not a child of the hedge span", s.Name, attr(s, ionotel.AttemptKey))
		}
		byAttempt[attr(s, ionotel.AttemptKey)] = s
	}
	first, second := byAttempt[""], byAttempt["2"]
	if attr(first, ionotel.OutcomeKey) != "ignored" || first.Status.Code != codes.Unset {
		t.Errorf("first attempt: outcome %q, status %v; want ignored, unset", attr(first, ionotel.OutcomeKey), first.Status.Code)
	}
	if attr(second, ionotel.OutcomeKey) != "success" {
		t.Errorf("hedge: outcome %q, want success", attr(second, ionotel.OutcomeKey))
	}
	if !first.StartTime.Before(second.StartTime) || first.EndTime.Before(second.StartTime) {
		t.Errorf("the hedge (started %v) did not start while the first attempt ran (%v to %v)",
			second.StartTime, first.StartTime, first.EndTime)
	}
	if got := attr(hedge[0], ionotel.OutcomeKey); got != "success" {
		t.Errorf("hedge span outcome %q, want success", got)
	}
}

// TestRejectedSpan checks that a call an open breaker refuses ends its span
// as rejected, with status Error.
func TestRejectedSpan(t *testing.T) {
	exp, _, tr := newTracer(t)
	b := breaker.New("payments", breaker.WithTracer(tr), breaker.WithConsecutiveFailures(1))
	p := breaker.Policy[int](b)
	_, _ = policy.Run(context.Background(), p, func(context.Context) (int, error) { return 0, errDown })
	_, err := policy.Run(context.Background(), p, func(context.Context) (int, error) { return 1, nil })
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("second call: %v, want the breaker open", err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("spans %v, want 2", names(spans))
	}
	s := spans[1]
	if attr(s, ionotel.OutcomeKey) != "rejected" || s.Status.Code != codes.Error || !strings.Contains(s.Status.Description, "open") {
		t.Errorf("rejected call: outcome %q, status %v %q", attr(s, ionotel.OutcomeKey), s.Status.Code, s.Status.Description)
	}
}

// TestWorkloadSpans runs the scripted workload with the tracer: every span
// ends with one of the documented outcomes, and spans with an error status
// are failures or rejections.
func TestWorkloadSpans(t *testing.T) {
	exp, _, tr := newTracer(t)
	synctest.Test(t, func(t *testing.T) {
		if err := workload.Run(t.Context(), nil, tr); err != nil {
			t.Fatal(err)
		}
	})
	spans := exp.GetSpans()
	if len(spans) < 10 {
		t.Fatalf("only %d spans: %v", len(spans), names(spans))
	}
	outcomes := map[string]int{}
	for _, s := range spans {
		o := attr(s, ionotel.OutcomeKey)
		outcomes[o]++
		switch o {
		case "success", "ignored":
			if s.Status.Code == codes.Error {
				t.Errorf("%s: %s with status Error", s.Name, o)
			}
		case "failure", "rejected":
			if s.Status.Code != codes.Error {
				t.Errorf("%s: %s without status Error", s.Name, o)
			}
		default:
			t.Errorf("%s: outcome %q", s.Name, o)
		}
	}
	for _, o := range []string{"success", "failure", "rejected"} {
		if outcomes[o] == 0 {
			t.Errorf("no span ended %s: %v", o, outcomes)
		}
	}
}

// TestNilTracerFailsClosed checks that NewTracer(nil) gives a sink every
// Ion option refuses, with an error naming the tracer.
func TestNilTracerFailsClosed(t *testing.T) {
	tr := ionotel.NewTracer(nil)
	if err := tr.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "nil trace.Tracer") {
		t.Fatalf("Err() = %v, want an ion.ErrInvalidConfig naming the tracer", err)
	}
	b := breaker.New("db", breaker.WithTracer(tr))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "tracer") {
		t.Errorf("breaker with the broken tracer: Err() = %v", err)
	}
	if r := policy.Retry[int](policy.WithTracer(tr)); r.Err() == nil {
		t.Error("retry accepted the broken tracer")
	}
	ctx, sp := tr.Start(context.Background(), "x")
	sp.End("success", nil)
	if ctx == nil {
		t.Error("Start returned a nil ctx")
	}
}

// TestNilPointerRefused checks that a nil *Tracer or *Metrics given to an
// option is refused like a nil sink, rather than panicking on first use.
func TestNilPointerRefused(t *testing.T) {
	var tr *ionotel.Tracer
	var m *ionotel.Metrics
	b := breaker.New("db", breaker.WithTracer(tr))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "nil *ionotel.Tracer") {
		t.Errorf("breaker with a nil *Tracer: Err() = %v", err)
	}
	b = breaker.New("db", breaker.WithMetrics(m))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "nil *ionotel.Metrics") {
		t.Errorf("breaker with a nil *Metrics: Err() = %v", err)
	}
	b = breaker.New("db", breaker.WithTracer(&ionotel.Tracer{}))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "zero one") {
		t.Errorf("breaker with a zero Tracer: Err() = %v", err)
	}
	b = breaker.New("db", breaker.WithMetrics(&ionotel.Metrics{}))
	if err := b.Err(); !errors.Is(err, ion.ErrInvalidConfig) || !strings.Contains(err.Error(), "zero one") {
		t.Errorf("breaker with a zero Metrics: Err() = %v", err)
	}
}
