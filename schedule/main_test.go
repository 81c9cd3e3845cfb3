package schedule_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// scheduler's loop and its pool's workers must be gone once Stop returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
