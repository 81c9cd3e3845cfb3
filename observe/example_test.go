package observe_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/ionkit/ion/observe"
)

// A test resolves instruments once, as an Ion primitive does at construction,
// records through them, and then inspects the Recorder.
func ExampleNewRecorder() {
	rec := observe.NewRecorder()

	// What a primitive does at construction, given WithMetrics(rec),
	// WithLogger(rec) and WithTracer(rec):
	allowed := rec.Counter("ion_limit_requests_total", observe.L("name", "api"), observe.L("result", "allowed"))
	tokens := rec.Gauge("ion_limit_tokens", observe.L("name", "api"))

	// What it does per call:
	allowed.Add(1)
	allowed.Add(1)
	tokens.Set(18)
	_, span := rec.Start(context.Background(), "limit(api)")
	span.End("rejected", errors.New("limit: limited"))
	rec.Log(context.Background(), slog.LevelWarn, "limit changed", slog.Int("burst", 10))

	// Labels may be given in any order.
	fmt.Println(rec.Count("ion_limit_requests_total", observe.L("result", "allowed"), observe.L("name", "api")))
	fmt.Println(rec.Value("ion_limit_tokens", observe.L("name", "api")))
	for _, s := range rec.Spans() {
		fmt.Println(s.Name, s.Outcome, s.Err)
	}
	for _, l := range rec.Logs() {
		fmt.Println(l.Level, l.Msg, l.Attrs)
	}
	// Output:
	// 2
	// 18
	// limit(api) rejected limit: limited
	// WARN limit changed [burst=10]
}

func ExampleSlog() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Drop the time so the output is deterministic.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	lg := observe.Slog(slog.New(h).With("service", "checkout"))

	// Pass lg to any Ion primitive with its WithLogger option; it logs rare
	// events such as this one.
	lg.Log(context.Background(), slog.LevelWarn, "breaker opened", slog.String("name", "payments"))
	// Output:
	// level=WARN msg="breaker opened" service=checkout name=payments
}

func ExampleNop() {
	m := observe.Nop()
	c := m.Counter("ion_pool_tasks_total", observe.L("name", "workers"), observe.L("result", "done"))
	c.Add(1) // discarded
	fmt.Println(c != nil)
	// Output:
	// true
}

func ExampleL() {
	l := observe.L("name", "payments")
	fmt.Println(l.Key, l.Value)
	// Output:
	// name payments
}

// An adapter registers an Ion metric from its catalog entry: its kind, its
// label keys, its help text and its buckets.
func ExampleLookup() {
	d, ok := observe.Lookup("ion_sem_wait_seconds")
	fmt.Println(ok, d.Kind, d.Labels, d.Package)
	fmt.Println(d.Help)
	fmt.Println(d.Buckets[0], d.Buckets[len(d.Buckets)-1])

	_, ok = observe.Lookup("myapp_requests_total")
	fmt.Println(ok)
	fmt.Println(len(observe.Catalog()) > 20)
	// Output:
	// true histogram [name] sem
	// Time a caller waited in the semaphore's queue, in seconds.
	// 0.0001 10
	// false
	// true
}
