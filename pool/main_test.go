package pool_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// worker must have exited once its pool is closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
