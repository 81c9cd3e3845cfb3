package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the writer in run and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRun reloads the file while traffic runs, in virtual time, with an
// explicit trigger: a valid change, then a broken file.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pipelines.json")
	original, err := os.ReadFile("pipelines.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, original, 0o600))

	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		triggers := make(chan struct{})
		done := make(chan error)
		// run's goroutine; joined by receiving from done.
		go func() { done <- run(ctx, &out, path, triggers) }()

		time.Sleep(time.Second) // a second of traffic
		faster := strings.NewReplacer(`"100/s"`, `"500/s"`, `"200ms"`, `"50ms"`).Replace(string(original))
		require.NoError(t, os.WriteFile(path, []byte(faster), 0o600))
		triggers <- struct{}{}
		synctest.Wait()

		time.Sleep(time.Second)
		broken := strings.Replace(faster, `"50ms"`, `"0s"`, 1)
		require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
		triggers <- struct{}{}
		synctest.Wait()

		cancel()
		require.NoError(t, <-done)
		got := out.String()
		t.Log("\n" + got)
		for _, want := range []string{
			"pipeline: fallback(cached) → retry(search attempts=2 backoff=constant(10ms)) → breaker(search) → limit(token-bucket(search-api) 100/s burst 10) → timeout(search 200ms) → fn\n",
			"reloaded (generation 2) after ",
			"\n  before: fallback(cached) → retry(search attempts=2 backoff=constant(10ms)) → breaker(search) → limit(token-bucket(search-api) 100/s burst 10) → timeout(search 200ms) → fn\n",
			"\n  after:  fallback(cached) → retry(search attempts=2 backoff=constant(10ms)) → breaker(search) → limit(token-bucket(search-api) 500/s burst 10) → timeout(search 50ms) → fn\n",
			"  breaker closed, limiter 500/s burst 10\n",
			"reload refused, still running: fallback(cached) → retry(search attempts=2 backoff=constant(10ms)) → breaker(search) → limit(token-bucket(search-api) 500/s burst 10) → timeout(search 50ms) → fn\n",
			"config: invalid configuration: pipelines.search.timeout.after: must be > 0, got 0s\n",
		} {
			assert.Contains(t, got, want)
		}
		assert.NotContains(t, got, "0 served", "traffic ran before the first reload")
	})
}

// TestWatch triggers a reload when the file changes and on SIGHUP, and not
// otherwise.
func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipelines.json")
	require.NoError(t, os.WriteFile(path, []byte(`{}`), 0o600))
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		hup := make(chan os.Signal, 1)
		triggers := make(chan struct{}, 1)
		done := make(chan struct{})
		// The watcher; joined by receiving from done.
		go func() { watch(ctx, path, time.Second, hup, triggers); close(done) }()

		time.Sleep(3 * time.Second)
		synctest.Wait()
		assert.Empty(t, triggers, "an unchanged file triggers nothing")

		require.NoError(t, os.WriteFile(path, []byte(`{"pipelines": {}}`), 0o600))
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Len(t, triggers, 1, "a changed file triggers a reload")
		<-triggers

		hup <- syscall.SIGHUP
		synctest.Wait()
		assert.Len(t, triggers, 1, "SIGHUP triggers a reload")
		<-triggers

		cancel()
		<-done
	})
}
