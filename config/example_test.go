package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

const paymentsDoc = `{
  "breakers": {"payments": {"consecutive_failures": 3, "open_duration": "10s"}},
  "limiters": {"api": {"rate": "50/s", "burst": 10}},
  "pipelines": {
    "payments": {
      "fallback": {"use": "declined"},
      "retry": {"attempts": 3, "backoff": {"initial": "100ms", "max": "2s"}},
      "breaker": "payments",
      "limiter": {"use": "api", "max_wait": "50ms"},
      "timeout": {"after": "2s"}
    }
  }
}`

func ExampleDecode() {
	doc, err := config.Decode(strings.NewReader(paymentsDoc))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.Pipelines["payments"].Retry.Backoff.Max)
	fmt.Println(*doc.Limiters["api"].Rate)
	// Output:
	// 2s
	// 50/s
}

func ExampleDocument_Validate() {
	var doc config.Document
	_ = json.Unmarshal([]byte(`{
	  "breakers": {"payments": {"consecutive_failures": 0, "failure_rate": 1.5}},
	  "pipelines": {"payments": {
	    "retry": {"backoff": {"initial": "1s", "max": "500ms"}},
	    "breaker": "payment"
	  }}
	}`), &doc)
	fmt.Println(doc.Validate())
	// Output:
	// config: invalid configuration: breakers.payments.failure_rate: must be in (0, 1], got 1.5
	// config: invalid configuration: pipelines.payments.retry.backoff.max: must be ≥ initial (1s), got 500ms
	// config: invalid configuration: pipelines.payments.breaker: no breaker named "payment"
}

func ExampleNew() {
	doc, _ := config.Decode(strings.NewReader(paymentsDoc))
	reg, err := config.New(doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(context.Background())

	payments := config.Pipeline[string](reg, "payments", config.FallbackValue("declined", "declined"))
	fmt.Println(payments)
	v, err := payments.Run(context.Background(), func(context.Context) (string, error) { return "charged", nil })
	fmt.Println(v, err)
	// Output:
	// fallback(declined) → retry(payments attempts=3 backoff=exponential(100ms..2s)) → breaker(payments) → limit(token-bucket(api) 50/s burst 10) → timeout(payments 2s) → fn
	// charged <nil>
}

func ExamplePipeline() {
	reg, _ := config.New(config.Document{Pipelines: map[string]config.PipelineConfig{
		"quotes": {Fallback: &config.FallbackConfig{Use: "stale"}, Classifier: "non-empty"},
	}})
	defer reg.Close(context.Background())

	quotes := config.Pipeline[string](reg, "quotes",
		config.FallbackValue("stale", "yesterday's quote"),
		config.Classifier("non-empty", func(v string, err error) policy.Outcome {
			if err != nil || v == "" {
				return policy.Failure
			}
			return policy.Success
		}))
	v, _ := quotes.Run(context.Background(), func(context.Context) (string, error) { return "", nil })
	fmt.Println(v)

	// A pipeline the document does not have fails closed, naming it.
	fmt.Println(config.Pipeline[string](reg, "prices").Err())
	// Output:
	// yesterday's quote
	// config: invalid configuration: pipelines.prices: no such pipeline in the document
}

func ExampleFallbackFunc() {
	reg, _ := config.New(config.Document{Pipelines: map[string]config.PipelineConfig{
		"profile": {Fallback: &config.FallbackConfig{Use: "anonymous"}},
	}})
	defer reg.Close(context.Background())

	profile := config.Pipeline[string](reg, "profile",
		config.FallbackFunc("anonymous", func(ctx context.Context, err error) (string, error) {
			return "anonymous (" + err.Error() + ")", nil
		}))
	v, _ := profile.Run(context.Background(), func(context.Context) (string, error) {
		return "", errors.New("profile service down")
	})
	fmt.Println(v)
	// Output: anonymous (profile service down)
}

func ExampleFallbackValue() {
	reg, _ := config.New(config.Document{Pipelines: map[string]config.PipelineConfig{
		"count": {Fallback: &config.FallbackConfig{Use: "zero"}},
	}})
	defer reg.Close(context.Background())

	count := config.Pipeline[int](reg, "count", config.FallbackValue("zero", 0))
	n, err := count.Run(context.Background(), func(context.Context) (int, error) { return 0, errors.New("down") })
	fmt.Println(n, err)
	// Output: 0 <nil>
}

func ExampleClassifier() {
	reg, _ := config.New(config.Document{
		Breakers:  map[string]config.BreakerConfig{"api": {ConsecutiveFailures: 1}},
		Pipelines: map[string]config.PipelineConfig{"status": {Breaker: "api", Classifier: "5xx"}},
	})
	defer reg.Close(context.Background())

	status := config.Pipeline[int](reg, "status", config.Classifier("5xx", func(code int, err error) policy.Outcome {
		if err != nil || code >= 500 {
			return policy.Failure
		}
		return policy.Success
	}))
	_, _ = status.Run(context.Background(), func(context.Context) (int, error) { return 503, nil })
	fmt.Println(reg.Snapshot().Breakers["api"].State)
	// Output: open
}

func ExampleRegistry_Apply() {
	reg, _ := config.New(config.Document{
		Limiters:  map[string]config.LimiterConfig{"api": {Rate: rate("10/s"), Burst: 5}},
		Pipelines: map[string]config.PipelineConfig{"search": {Limiter: &config.LimiterUse{Use: "api"}}},
	})
	defer reg.Close(context.Background())
	search := config.Pipeline[string](reg, "search")
	fmt.Println(search)

	// Raise the limit and add a timeout: the bucket changes in place.
	err := reg.Apply(config.Document{
		Limiters: map[string]config.LimiterConfig{"api": {Rate: rate("20/s"), Burst: 10}},
		Pipelines: map[string]config.PipelineConfig{"search": {
			Limiter: &config.LimiterUse{Use: "api"},
			Timeout: &config.TimeoutConfig{After: config.Duration(500e6)},
		}},
	})
	fmt.Println(err)
	fmt.Println(search)

	// An invalid document changes nothing.
	err = reg.Apply(config.Document{Pipelines: map[string]config.PipelineConfig{"search": {
		Limiter: &config.LimiterUse{Use: "api"},
	}}})
	fmt.Println(err)
	fmt.Println(search)
	// Output:
	// limit(token-bucket(api) 10/s burst 5) → fn
	// <nil>
	// limit(token-bucket(api) 20/s burst 10) → timeout(search 500ms) → fn
	// config: invalid configuration: pipelines.search.limiter.use: no limiter named "api"
	// limit(token-bucket(api) 20/s burst 10) → timeout(search 500ms) → fn
}

func ExampleRegistry_ServeHTTP() {
	reg, _ := config.New(config.Document{
		Bulkheads: map[string]config.BulkheadConfig{"db": {Capacity: 4}},
	})
	defer reg.Close(context.Background())

	rec := httptest.NewRecorder()
	reg.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/ion", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body.String())
	// Output:
	// 200 application/json
	// {
	//   "generation": 1,
	//   "bulkheads": {
	//     "db": {
	//       "capacity": 4,
	//       "in_use": 0,
	//       "available": 4,
	//       "waiting": 0
	//     }
	//   }
	// }
}

func ExampleWithMetrics() {
	rec := observe.NewRecorder() // or a Prometheus or OpenTelemetry sink
	reg, _ := config.New(config.Document{
		Breakers:  map[string]config.BreakerConfig{"db": {}},
		Pipelines: map[string]config.PipelineConfig{"orders": {Breaker: "db"}},
	}, config.WithMetrics(rec))
	defer reg.Close(context.Background())

	orders := config.Pipeline[string](reg, "orders")
	_, _ = orders.Run(context.Background(), func(context.Context) (string, error) { return "ok", nil })
	fmt.Println(rec.Count("ion_breaker_calls_total",
		observe.Label{Key: "name", Value: "db"}, observe.Label{Key: "outcome", Value: "success"}))
	// Output: 1
}

// rate parses a rate for the examples.
func rate(s string) *config.Rate {
	var r config.Rate
	if err := r.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return &r
}
