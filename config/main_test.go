package config_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Pools start worker goroutines; every test closes its registry.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
