// Command quickstart runs a flaky function through the smallest complete Ion
// pipeline and prints what happened to each call.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

func main() {
	calls := flag.Int("calls", 10, "number of calls to make, one every 100ms")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, calls int) error {
	cb := breaker.New("recommendations",
		breaker.WithConsecutiveFailures(3), breaker.WithOpenDuration(300*time.Millisecond))

	// Compose once, outermost first; run every call through it.
	p := policy.Compose(
		policy.FallbackFunc(func(_ context.Context, err error) (string, error) {
			return "bestsellers (fallback: " + err.Error() + ")", nil
		}),
		// WithMaxRetryAfter lets the retry wait out the breaker's open
		// state (300ms), longer than its own 10ms backoff, when the
		// caller's deadline allows; by default it would fail fast.
		policy.Retry[string](policy.WithAttempts(3), policy.WithBackoff(policy.Constant(10*time.Millisecond)),
			policy.WithMaxRetryAfter(300*time.Millisecond),
			policy.WithOnRetry(func(_ context.Context, n int, err error, d time.Duration) {
				fmt.Fprintf(w, "    retry %d in %v after: %v\n", n, d.Round(time.Millisecond), err)
			})),
		breaker.Policy[string](cb),
		limit.Policy[string](limit.NewTokenBucket(limit.PerSecond(50), 10)),
		policy.Timeout[string](50*time.Millisecond),
	)
	fmt.Fprintf(w, "pipeline: %v\n\n", p)

	svc := &service{}
	for i := 1; i <= calls; i++ {
		fmt.Fprintf(w, "call %d\n", i)
		// Each caller waits at most 150ms, so Retry waits out an open breaker
		// (its Retry-After) only when that fits; otherwise Fallback answers.
		cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		v, err := p.Run(cctx, svc.recommend)
		cancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  → %s [breaker %v]\n", v, cb.State())
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(w, "\n%d calls answered, %d requests reached the service, %d attempts rejected by the breaker\n",
		calls, svc.requests, cb.Snapshot().Rejected)
	return nil
}

// service is the flaky dependency: its n-th request fails, hangs or
// succeeds on a fixed script, so every run prints the same story.
type service struct{ requests int }

func (s *service) recommend(ctx context.Context) (string, error) {
	s.requests++
	switch n := s.requests; {
	case n == 2, n >= 6 && n <= 9: // a blip, then an outage
		return "", fmt.Errorf("503 from service (request %d)", n)
	case n == 4: // hangs until the Timeout cancels it
		<-ctx.Done()
		return "", ctx.Err()
	}
	return fmt.Sprintf("fresh picks (request %d)", s.requests), nil
}
