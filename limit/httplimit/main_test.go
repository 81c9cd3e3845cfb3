package httplimit_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
)

// The package starts no goroutine of its own; goleak checks that waits leave
// none behind either.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is an arbitrary explicit time for the table tests.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// requireConfigError checks that err fails closed with a *ion.ConfigError
// of this package that names param.
func requireConfigError(t *testing.T, err error, param string) {
	t.Helper()
	require.ErrorIs(t, err, ion.ErrInvalidConfig, "a bad configuration must fail closed with ErrInvalidConfig")
	var ce *ion.ConfigError
	require.True(t, errors.As(err, &ce), "the error must be a *ion.ConfigError, got %T", err)
	assert.Equal(t, "httplimit", ce.Pkg)
	assert.Contains(t, ce.Param, param, "the error must name the parameter")
}

// admissionsPerKey runs callsPerKey concurrent calls of allow on each of
// keys keys, released at once, and returns how many each key admitted.
func admissionsPerKey(keys, callsPerKey int, allow func(key int) bool) []int32 {
	admitted := make([]atomic.Int32, keys)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range keys {
		for range callsPerKey {
			wg.Go(func() {
				<-start
				if allow(k) {
					admitted[k].Add(1)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	out := make([]int32, keys)
	for k := range admitted {
		out[k] = admitted[k].Load()
	}
	return out
}
