package limit

import (
	"testing"

	"github.com/ionkit/ion/internal/spin"
)

// TestRetryAfterLossRefreshesOnlyClockReadings checks the time a reservation
// that lost its compare-and-swap retries at: a fresh reading when the caller
// passed a clock reading (the backoff must not age it: a stale reading can
// admit at a time the bucket has passed), and the caller's own time
// otherwise (AllowN, ReserveN and the multi-tier's slots mean that time).
func TestRetryAfterLossRefreshesOnlyClockReadings(t *testing.T) {
	var bo spin.Backoff
	old := nowNs() - int64(1e9)
	if got := retryAfterLoss(&bo, old, true); got <= old {
		t.Errorf("retryAfterLoss(clock) = %d, want a reading later than %d", got, old)
	}
	if got := retryAfterLoss(&bo, old, false); got != old {
		t.Errorf("retryAfterLoss(not clock) = %d, want the caller's %d", got, old)
	}
	future := nowNs() + int64(1e12)
	if got := retryAfterLoss(&bo, future, true); got != future {
		t.Errorf("retryAfterLoss(clock) went back from %d to %d", future, got)
	}
}
