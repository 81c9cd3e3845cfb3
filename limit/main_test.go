package limit_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The package starts no goroutine of its own; goleak checks that waits leave
// none behind either.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
