package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/config"
)

// params returns the field paths of err's *ion.ConfigError parts, in order.
func params(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var out []string
	for _, e := range list {
		var ce *ion.ConfigError
		require.True(t, errors.As(e, &ce), "every validation error is a *ion.ConfigError, got %T: %v", e, e)
		assert.ErrorIs(t, e, ion.ErrInvalidConfig, "every validation error matches ion.ErrInvalidConfig")
		out = append(out, ce.Param)
	}
	return out
}

func TestDecode_realFiles(t *testing.T) {
	f, err := os.Open("testdata/pipelines.json")
	require.NoError(t, err)
	defer f.Close()
	fromJSON, err := config.Decode(f)
	require.NoError(t, err, "Decode(testdata/pipelines.json)")

	data, err := os.ReadFile("testdata/pipelines.yaml")
	require.NoError(t, err)
	var fromYAML config.Document
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&fromYAML), "yaml.v3 decodes a Document, durations and rates included")
	require.NoError(t, fromYAML.Validate())

	assert.Equal(t, fromJSON, fromYAML, "the JSON and YAML files describe the same document")
	p := fromJSON.Pipelines["payments"]
	require.NotNil(t, p.Retry)
	assert.Equal(t, config.Duration(2e9), p.Retry.Backoff.Max, "durations are read from strings")
	assert.Equal(t, config.Rate(50), *fromJSON.Limiters["per-second"].Rate, "rates are read from strings")

	// A document survives a round trip through JSON.
	out, err := json.Marshal(fromJSON)
	require.NoError(t, err)
	again, err := config.Decode(strings.NewReader(string(out)))
	require.NoError(t, err)
	assert.Equal(t, fromJSON, again, "Decode(Marshal(doc)) = doc")
}

func TestDecode_rejects(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"syntax", `{"breakers": {`, "document: unexpected EOF"},
		{"unknown field", `{"breaker": {}}`, `unknown field "breaker"`},
		{"unknown nested field", `{"pipelines": {"p": {"retry": {"attempt": 3}}}}`, `unknown field "attempt"`},
		{"bare number duration", `{"pipelines": {"p": {"timeout": {"after": 10}}}}`, "document"},
		{"bad duration", `{"pipelines": {"p": {"timeout": {"after": "ten"}}}}`, `duration "ten"`},
		{"bad rate", `{"limiters": {"l": {"rate": "fast"}}}`, `rate "fast"`},
		{"rate with zero period", `{"limiters": {"l": {"rate": "1/0s"}}}`, "period must be a positive"},
		{"negative rate", `{"limiters": {"l": {"rate": "-1/s"}}}`, "count must be a finite number"},
		{"trailing data", `{} {}`, "data after the document"},
		{"invalid", `{"pipelines": {"p": {"timeout": {"after": "0s"}}}}`, "pipelines.p.timeout.after: must be > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := config.Decode(strings.NewReader(tc.doc))
			require.Error(t, err)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, config.Document{}, doc, "a rejected document is the zero Document")
		})
	}
}

// TestValidate lists every validation rule: each row is a document (JSON,
// decoded without validation) and the field paths it must report, in order.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"empty", `{}`, nil},
		{"valid file", mustRead(t, "testdata/pipelines.json"), nil},

		// Breakers.
		{"breaker preset", `{"breakers": {"b": {"preset": "nervous"}}}`, []string{"breakers.b.preset"}},
		{"breaker consecutive", `{"breakers": {"b": {"consecutive_failures": -1}}}`, []string{"breakers.b.consecutive_failures"}},
		{"breaker rate", `{"breakers": {"b": {"failure_rate": 1.5}}}`, []string{"breakers.b.failure_rate"}},
		{"breaker two rules", `{"breakers": {"b": {"consecutive_failures": 3, "failure_rate": 0.5}}}`, []string{"breakers.b"}},
		{"breaker two windows", `{"breakers": {"b": {"count_window": {"size": 10, "min_calls": 5}, "time_window": {"length": "10s", "min_calls": 5}}}}`, []string{"breakers.b"}},
		{"breaker count window", `{"breakers": {"b": {"count_window": {"size": 0, "min_calls": 0}}}}`, []string{"breakers.b.count_window.size", "breakers.b.count_window.min_calls"}},
		{"breaker count window min above size", `{"breakers": {"b": {"count_window": {"size": 5, "min_calls": 6}}}}`, []string{"breakers.b.count_window.min_calls"}},
		{"breaker time window", `{"breakers": {"b": {"time_window": {"length": "0s", "buckets": -1, "min_calls": 0}}}}`, []string{"breakers.b.time_window.length", "breakers.b.time_window.buckets", "breakers.b.time_window.min_calls"}},
		{"breaker time window too many buckets", `{"breakers": {"b": {"time_window": {"length": "1h", "buckets": 65537, "min_calls": 1}}}}`, []string{"breakers.b.time_window.buckets"}},
		{"breaker consecutive too many", `{"breakers": {"b": {"consecutive_failures": 2147483648, "half_open_max_calls": 2147483648}}}`, []string{"breakers.b.consecutive_failures", "breakers.b.half_open_max_calls"}},
		{"breaker count window too large", `{"breakers": {"b": {"count_window": {"size": 1048577, "min_calls": 1}}}}`, []string{"breakers.b.count_window.size"}},
		{"breaker time window buckets", `{"breakers": {"b": {"time_window": {"length": "5ns", "buckets": 6, "min_calls": 1}}}}`, []string{"breakers.b.time_window.buckets"}},
		{"breaker failures within", `{"breakers": {"b": {"failures_within": {"failures": 70000, "within": "-1s"}}}}`, []string{"breakers.b.failures_within.failures", "breakers.b.failures_within.within"}},
		{"breaker slow calls", `{"breakers": {"b": {"slow_calls": {"threshold": "0s", "rate": 0}}}}`, []string{"breakers.b.slow_calls.threshold", "breakers.b.slow_calls.rate"}},
		{"breaker open duration", `{"breakers": {"b": {"open_duration": "-1s"}}}`, []string{"breakers.b.open_duration"}},
		{"breaker open backoff", `{"breakers": {"b": {"open_duration": "10s", "open_backoff": {"factor": 0.5, "limit": "5s"}}}}`, []string{"breakers.b.open_backoff.factor", "breakers.b.open_backoff.limit"}},
		{"breaker open backoff below preset", `{"breakers": {"b": {"preset": "conservative", "open_backoff": {"factor": 2, "limit": "30s"}}}}`, []string{"breakers.b.open_backoff.limit"}},
		{"breaker jitter", `{"breakers": {"b": {"jitter": {"fraction": 2}}}}`, []string{"breakers.b.jitter.fraction"}},
		{"breaker half open", `{"breakers": {"b": {"half_open_max_calls": -1, "success_threshold": -1}}}`, []string{"breakers.b.half_open_max_calls", "breakers.b.success_threshold"}},
		{"breaker threshold above probes", `{"breakers": {"b": {"half_open_max_calls": 1, "success_threshold": 2}}}`, []string{"breakers.b.success_threshold"}},
		{"breaker threshold above preset probes", `{"breakers": {"b": {"preset": "aggressive", "success_threshold": 2}}}`, []string{"breakers.b.success_threshold"}},

		// Limiters.
		{"limiter kind", `{"limiters": {"l": {"kind": "sliding", "rate": "1/s"}}}`, []string{"limiters.l.kind"}},
		{"limiter rate missing", `{"limiters": {"l": {"burst": 5}}}`, []string{"limiters.l.rate"}},
		{"limiter burst", `{"limiters": {"l": {"rate": "1/s", "burst": -1}}}`, []string{"limiters.l.burst"}},
		{"limiter burst too large", `{"limiters": {"l": {"rate": "1/s", "burst": 2000000000000000}}}`, []string{"limiters.l.burst"}},
		{"token bucket capacity", `{"limiters": {"l": {"rate": "1/s", "capacity": 5}}}`, []string{"limiters.l.capacity"}},
		{"leaky bucket burst", `{"limiters": {"l": {"kind": "leaky-bucket", "rate": "1/s", "burst": 5}}}`, []string{"limiters.l.burst"}},
		{"leaky bucket capacity", `{"limiters": {"l": {"kind": "leaky-bucket", "rate": "1/s", "capacity": -5}}}`, []string{"limiters.l.capacity"}},
		{"bucket members", `{"limiters": {"l": {"rate": "1/s", "members": ["x"]}}}`, []string{"limiters.l.members", "limiters.l.members[0]"}},
		{"all without members", `{"limiters": {"l": {"kind": "all"}}}`, []string{"limiters.l.members"}},
		{"all with a rate", `{"limiters": {"a": {"rate": "1/s"}, "l": {"kind": "all", "rate": "1/s", "members": ["a"]}}}`, []string{"limiters.l"}},
		{"all member missing", `{"limiters": {"l": {"kind": "all", "members": ["nope"]}}}`, []string{"limiters.l.members[0]"}},
		{"all member twice", `{"limiters": {"a": {"rate": "1/s"}, "l": {"kind": "all", "members": ["a", "a"]}}}`, []string{"limiters.l.members[1]"}},
		{"all of all", `{"limiters": {"a": {"rate": "1/s"}, "b": {"kind": "all", "members": ["a"]}, "l": {"kind": "all", "members": ["b"]}}}`, []string{"limiters.l.members[0]"}},

		// Bulkheads, pools, adaptive limiters, budgets.
		{"bulkhead", `{"bulkheads": {"b": {"capacity": 0, "fairness": "random", "acquire_timeout": "-1s"}}}`, []string{"bulkheads.b.capacity", "bulkheads.b.fairness", "bulkheads.b.acquire_timeout"}},
		{"pool", `{"pools": {"p": {"size": 0, "queue_size": -1, "idle_timeout": "-1s", "max_queue_wait": "-1s", "queue_order": "random"}}}`, []string{"pools.p.size", "pools.p.queue_size", "pools.p.idle_timeout", "pools.p.max_queue_wait", "pools.p.queue_order"}},
		{"adaptive", `{"adaptive": {"a": {"algorithm": "magic", "backoff": 1, "smoothing": 2, "tolerance": 0.5, "max_wait": "-1s", "max_queue": -1, "adaptive_lifo": -1}}}`, []string{"adaptive.a.algorithm", "adaptive.a.backoff", "adaptive.a.smoothing", "adaptive.a.tolerance", "adaptive.a.max_wait", "adaptive.a.max_queue", "adaptive.a.adaptive_lifo"}},
		{"adaptive limits", `{"adaptive": {"a": {"min_limit": 10, "max_limit": 5, "initial_limit": 20}}}`, []string{"adaptive.a.max_limit", "adaptive.a.initial_limit"}},
		{"adaptive min limit", `{"adaptive": {"a": {"min_limit": -1}}}`, []string{"adaptive.a.min_limit"}},
		{"adaptive initial above default max", `{"adaptive": {"a": {"initial_limit": 5000}}}`, []string{"adaptive.a.initial_limit"}},
		{"adaptive windows", `{"adaptive": {"a": {"sample_window": {"length": "0s", "min_samples": 0}, "codel": {"target": "0s", "interval": "-1s"}}}}`, []string{"adaptive.a.sample_window.length", "adaptive.a.sample_window.min_samples", "adaptive.a.codel.target", "adaptive.a.codel.interval"}},
		{"throttler", `{"throttlers": {"t": {"k": 0.5, "window": "10ns"}}}`, []string{"throttlers.t.k", "throttlers.t.window"}},
		{"budget", `{"budgets": {"b": {"ratio": -1, "min_per_second": -1}}}`, []string{"budgets.b.ratio", "budgets.b.min_per_second"}},

		// Pipelines: their own layers.
		{"retry", `{"pipelines": {"p": {"retry": {"attempts": -1, "jitter": "wild", "absolute_jitter": "-1s", "max_duration": "-1s", "max_retry_after": "-1s"}}}}`, []string{"pipelines.p.retry.attempts", "pipelines.p.retry.jitter", "pipelines.p.retry.absolute_jitter", "pipelines.p.retry.max_duration", "pipelines.p.retry.max_retry_after"}},
		{"retry unlimited and attempts", `{"pipelines": {"p": {"retry": {"attempts": 3, "unlimited": true}}}}`, []string{"pipelines.p.retry.unlimited"}},
		{"retry two jitters", `{"pipelines": {"p": {"retry": {"jitter": "full", "proportional_jitter": 0.2}}}}`, []string{"pipelines.p.retry.proportional_jitter"}},
		{"retry proportional jitter", `{"pipelines": {"p": {"retry": {"proportional_jitter": 1.5}}}}`, []string{"pipelines.p.retry.proportional_jitter"}},
		{"backoff max below initial", `{"pipelines": {"payments": {"retry": {"backoff": {"initial": "1s", "max": "500ms"}}}}}`, []string{"pipelines.payments.retry.backoff.max"}},
		{"backoff max below default initial", `{"pipelines": {"p": {"retry": {"backoff": {"max": "50ms"}}}}}`, []string{"pipelines.p.retry.backoff.max"}},
		{"backoff kind", `{"pipelines": {"p": {"retry": {"backoff": {"kind": "fibonacci"}}}}}`, []string{"pipelines.p.retry.backoff.kind"}},
		{"backoff negative", `{"pipelines": {"p": {"retry": {"backoff": {"kind": "linear", "initial": "-1s", "step": "-1s"}}}}}`, []string{"pipelines.p.retry.backoff.initial", "pipelines.p.retry.backoff.step"}},
		{"backoff step not linear", `{"pipelines": {"p": {"retry": {"backoff": {"step": "1s"}}}}}`, []string{"pipelines.p.retry.backoff.step"}},
		{"backoff factor", `{"pipelines": {"p": {"retry": {"backoff": {"factor": 0.5}}}}}`, []string{"pipelines.p.retry.backoff.factor"}},
		{"backoff factor linear", `{"pipelines": {"p": {"retry": {"backoff": {"kind": "linear", "factor": 2}}}}}`, []string{"pipelines.p.retry.backoff.factor"}},
		{"backoff constant extras", `{"pipelines": {"p": {"retry": {"backoff": {"kind": "constant", "max": "1s"}}}}}`, []string{"pipelines.p.retry.backoff"}},
		{"hedge", `{"pipelines": {"p": {"hedge": {"delay": "-1ms", "hedges": -1}}}}`, []string{"pipelines.p.hedge.delay", "pipelines.p.hedge.hedges"}},
		{"timeout", `{"pipelines": {"p": {"timeout": {"after": "0s"}}}}`, []string{"pipelines.p.timeout.after"}},
		{"fallback", `{"pipelines": {"p": {"fallback": {"use": ""}}}}`, []string{"pipelines.p.fallback.use"}},
		{"chaos empty", `{"pipelines": {"p": {"chaos": {}}}}`, []string{"pipelines.p.chaos"}},
		{"chaos rates", `{"pipelines": {"p": {"chaos": {"fault": {"rate": 2}, "latency": {"rate": -1, "delay": "-1s"}}}}}`, []string{"pipelines.p.chaos.fault.rate", "pipelines.p.chaos.latency.rate", "pipelines.p.chaos.latency.delay"}},
		{"order", `{"pipelines": {"p": {"timeout": {"after": "1s"}, "retry": {}, "order": ["timeout", "timeout", "breaker", "cache"]}}}`, []string{"pipelines.p.order[1]", "pipelines.p.order[2]", "pipelines.p.order[3]", "pipelines.p.order"}},

		// Pipelines: the names they use.
		{"missing names", `{"pipelines": {"p": {"breaker": "b", "throttler": "t", "adaptive": "a", "pool": "w", "limiter": {"use": "l"}, "bulkhead": {"use": "h"}, "retry": {"budget": "r"}, "hedge": {"delay": "1ms", "budget": "r"}}}}`,
			[]string{"pipelines.p.breaker", "pipelines.p.throttler", "pipelines.p.adaptive", "pipelines.p.pool", "pipelines.p.limiter.use", "pipelines.p.bulkhead.use", "pipelines.p.retry.budget", "pipelines.p.hedge.budget"}},
		{"empty uses", `{"pipelines": {"p": {"limiter": {"use": "", "max_wait": "-1s"}, "bulkhead": {"use": "", "max_wait": "-1s", "weight": -1}}}}`,
			[]string{"pipelines.p.limiter.use", "pipelines.p.limiter.max_wait", "pipelines.p.bulkhead.use", "pipelines.p.bulkhead.max_wait", "pipelines.p.bulkhead.weight"}},
		{"weight above capacity", `{"bulkheads": {"h": {"capacity": 2}}, "pipelines": {"p": {"bulkhead": {"use": "h", "weight": 3}}}}`, []string{"pipelines.p.bulkhead.weight"}},
		{"odd names are quoted", `{"breakers": {"a.b": {"consecutive_failures": -1}}}`, []string{`breakers["a.b"].consecutive_failures`}},
		{"every error at once", `{"breakers": {"b": {"open_duration": "-1s"}}, "pools": {"w": {"size": 0}}, "pipelines": {"p": {"timeout": {"after": "0s"}}}}`,
			[]string{"breakers.b.open_duration", "pools.w.size", "pipelines.p.timeout.after"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc config.Document
			require.NoError(t, json.Unmarshal([]byte(tc.doc), &doc), "the row's document decodes")
			err := doc.Validate()
			assert.Equal(t, tc.want, params(t, err), "Validate() reports these field paths, in order: %v", err)
		})
	}
}

func TestValidate_messageNamesThePath(t *testing.T) {
	var doc config.Document
	require.NoError(t, json.Unmarshal([]byte(`{"pipelines": {"payments": {"retry": {"backoff": {"initial": "1s", "max": "500ms"}}}}}`), &doc))
	err := doc.Validate()
	assert.EqualError(t, err, "config: invalid configuration: pipelines.payments.retry.backoff.max: must be ≥ initial (1s), got 500ms")
}

func TestValidate_sorted(t *testing.T) {
	var doc config.Document
	require.NoError(t, json.Unmarshal([]byte(`{"pools": {"c": {}, "a": {}, "b": {}}}`), &doc))
	got := params(t, doc.Validate())
	assert.True(t, slices.IsSorted(got), "errors come in the order of the names, got %v", got)
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

func TestValidate_realFile(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid.yaml")
	require.NoError(t, err)
	var doc config.Document
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&doc), "the file is well-formed YAML")
	err = doc.Validate()
	assert.Equal(t, []string{
		"breakers.payments.success_threshold",
		"limiters.api.burst",
		"pipelines.payments.retry.backoff.max",
		"pipelines.payments.timeout.after",
		"pipelines.payments.breaker",
	}, params(t, err), "every mistake of the file, at once: %v", err)

	_, err = config.New(doc)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig, "New refuses the document")
}
