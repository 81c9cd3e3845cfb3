package main

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/test/bufconn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunTellsTheStory(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, lis, func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	}))
	t.Log("\n" + out.String())
	assert.Equal(t, `1. Check while the server warms up: two Unavailable answers are retried
client:   attempt 1 failed (Unavailable), retrying
client:   attempt 2 failed (Unavailable), retrying
   → SERVING OK
2. Watch: the stream fails before its first message, so it is opened again
client:   attempt 1 failed (Unavailable), retrying
   → SERVING
   → NOT_SERVING
   → SERVING
3. A handler panics: the server answers Internal and keeps serving
server: recovered a panic in /grpc.health.v1.Health/Check: nil map write in Check
client:   attempt 1 failed (Internal), retrying
server: recovered a panic in /grpc.health.v1.Health/Check: nil map write in Check
client:   attempt 2 failed (Internal), retrying
server: recovered a panic in /grpc.health.v1.Health/Check: nil map write in Check
   → Internal
4. Six more Checks: this peer has spent 8 of its burst of 12, so the last two are refused
   with a pushback of a minute, too long for the client's retry: it gives up at once,
   and its breaker ignores the refusals instead of counting them as failures
   check 1 → OK
   check 2 → OK
   check 3 → OK
   check 4 → OK
   check 5 → ResourceExhausted, pushback 1m0s
   check 6 → ResourceExhausted, pushback 1m0s
client breaker closed: 6 successes, 6 failures, 2 ignored
`, out.String(), "the story")
}
