package config_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/ionkit/ion/config"
)

// FuzzDecode checks that decoding and validating never panic, and that a
// document they accept builds: every primitive and every pipeline, for any
// type, with its bindings, without a configuration error. Validation must
// never accept what a primitive would refuse.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"testdata/pipelines.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{}`,
		`{"breakers": {"b": {"preset": "aggressive", "half_open_max_calls": 2, "success_threshold": 2, "time_window": {"length": "10s", "min_calls": 5}, "slow_calls": {"threshold": "1s", "rate": 0.5}}}, "pipelines": {"p": {"breaker": "b"}}}`,
		`{"breakers": {"b": {"failures_within": {"failures": 3, "within": "1s"}, "open_backoff": {"factor": 2, "limit": "1m"}, "jitter": {"fraction": 0.1, "seed": 3}}}}`,
		`{"limiters": {"a": {"rate": "0/s", "burst": 0}, "b": {"kind": "leaky-bucket", "rate": "3/250ms", "capacity": 2}, "c": {"kind": "all", "members": ["a", "b"]}}, "pipelines": {"p": {"limiter": {"use": "c", "max_wait": "1s"}}}}`,
		`{"adaptive": {"a": {"algorithm": "gradient", "min_limit": 2, "max_limit": 10, "initial_limit": 5, "codel": {"target": "5ms", "interval": "100ms"}, "sample_window": {"length": "1s", "min_samples": 3}}}, "throttlers": {"t": {"k": 3, "window": "1m", "seed": 2}}, "pipelines": {"p": {"adaptive": "a", "throttler": "t"}}}`,
		`{"pools": {"w": {"size": 2, "queue_size": 3, "idle_timeout": "0s", "queue_order": "lifo"}}, "bulkheads": {"h": {"capacity": 2, "fairness": "lifo"}}, "pipelines": {"p": {"pool": "w", "bulkhead": {"use": "h", "weight": 2}, "order": ["bulkhead", "pool"]}}}`,
		`{"budgets": {"b": {"ratio": 0.1}}, "pipelines": {"p": {"classifier": "c", "fallback": {"use": "f"}, "retry": {"unlimited": true, "max_duration": "1s", "budget": "b", "backoff": {"kind": "linear", "step": "10ms"}}, "hedge": {"delay": "0s", "hedges": 2, "budget": "b"}, "timeout": {"after": "1s", "abandon": true}, "chaos": {"fault": {"rate": 0.5, "enabled": false}, "latency": {"rate": 1, "delay": "1ms"}, "seed": 1}}}}`,
		`{"pipelines": {"p": {"retry": {"backoff": {"initial": "1s", "max": "500ms"}}}}}`,
		// The bounds of each primitive, just inside and just outside.
		`{"breakers": {"a": {"consecutive_failures": 2147483647, "half_open_max_calls": 2147483647}, "b": {"time_window": {"length": "1h", "buckets": 65536, "min_calls": 1}}, "c": {"count_window": {"size": 1048576, "min_calls": 1048576}}}}`,
		`{"breakers": {"a": {"consecutive_failures": 2147483648}, "b": {"time_window": {"length": "1h", "buckets": 65537, "min_calls": 1}}}}`,
		`{"limiters": {"a": {"rate": "inf", "burst": 1125899906842624}, "b": {"kind": "leaky-bucket", "rate": "1e300/s", "capacity": 1125899906842625}}}`,
		`{"adaptive": {"a": {"min_limit": 1000000000, "max_limit": 2000000000, "max_queue": 2000000000}}, "pools": {"w": {"size": 2000000000, "queue_size": 2000000000}}, "bulkheads": {"h": {"capacity": 9223372036854775807}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := config.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := doc.Validate(); err != nil {
			t.Fatalf("Decode accepted a document that Validate refuses: %v", err)
		}
		r, err := config.New(doc)
		if err != nil {
			t.Fatalf("a valid document does not build: %v", err)
		}
		defer r.Close(context.Background())
		for name, p := range doc.Pipelines {
			var bindings []config.Binding[string]
			if p.Fallback != nil {
				bindings = append(bindings, config.FallbackValue(p.Fallback.Use, "fallback"))
			}
			if p.Classifier != "" {
				bindings = append(bindings, config.Classifier[string](p.Classifier, nil))
			}
			if err := config.Pipeline(r, name, bindings...).Err(); err != nil {
				t.Fatalf("pipeline %q of a valid document fails closed: %v", name, err)
			}
		}
		if err := r.Apply(doc); err != nil {
			t.Fatalf("re-applying a valid document fails: %v", err)
		}
		_ = r.Snapshot()
	})
}
