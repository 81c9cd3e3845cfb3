// Command reload runs traffic through a pipeline built from a configuration
// file, and re-applies the file while the traffic runs: when the file
// changes, and on SIGHUP. It prints the pipeline before and after each
// reload, and why a reload was refused; the limiter and the breaker keep
// their state across reloads.
//
//	go run ./examples/reload -config examples/reload/pipelines.json
//
// Edit the file (raise the limiter's rate, change the timeout, break it),
// or send SIGHUP, and watch the output. Interrupt with Ctrl-C.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ionkit/ion/config"
)

func main() {
	path := flag.String("config", "pipelines.json", "the configuration file to run and watch")
	poll := flag.Duration("poll", time.Second, "how often to look for a change of the file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	triggers := make(chan struct{}, 1)
	var wg sync.WaitGroup
	// The watcher; it exits when ctx ends and is joined by wg.Wait below.
	wg.Go(func() { watch(ctx, *path, *poll, hup, triggers) })
	err := run(ctx, os.Stdout, *path, triggers)
	stop()
	wg.Wait()
	if err != nil {
		log.Fatal(err)
	}
}

// watch sends on triggers when the file at path changes (its content, read
// every poll) or when a signal arrives on hup, until ctx ends. A trigger
// that finds one pending is dropped: one reload reads the latest file.
func watch(ctx context.Context, path string, poll time.Duration, hup <-chan os.Signal, triggers chan<- struct{}) {
	last, _ := os.ReadFile(path)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick.C:
			now, err := os.ReadFile(path)
			if err != nil || bytes.Equal(now, last) {
				continue // a file being replaced may be missing for a moment
			}
			last = now
		}
		select {
		case triggers <- struct{}{}:
		default:
		}
	}
}

// run builds the registry from the file at path, runs traffic through its
// "search" pipeline until ctx ends, and re-applies the file on each
// trigger.
func run(ctx context.Context, w io.Writer, path string, triggers <-chan struct{}) error {
	doc, err := load(path)
	if err != nil {
		return err
	}
	reg, err := config.New(doc)
	if err != nil {
		return err
	}
	defer reg.Close(context.Background())
	search := config.Pipeline[string](reg, "search", config.FallbackValue("cached", "cached results"))
	if err := search.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "pipeline: %s\n", search)

	var served, fellBack atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	// The traffic: one caller every 5ms; it exits when ctx ends and is
	// joined by the deferred wg.Wait.
	wg.Go(func() {
		for ctx.Err() == nil {
			v, _ := search.Run(ctx, backend)
			if v == "cached results" {
				fellBack.Add(1)
			} else if v != "" {
				served.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	})

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-triggers:
		}
		before := search.String()
		doc, err := load(path)
		if err == nil {
			err = reg.Apply(doc)
		}
		if err != nil {
			fmt.Fprintf(w, "reload refused, still running: %s\n  %s\n", before, strings.ReplaceAll(err.Error(), "\n", "\n  "))
			continue
		}
		s := reg.Snapshot()
		fmt.Fprintf(w, "reloaded (generation %d) after %d served, %d from the fallback\n  before: %s\n  after:  %s\n  breaker %s, limiter %s burst %d\n",
			s.Generation, served.Load(), fellBack.Load(), before, search,
			s.Breakers["search"].State, s.Limiters["search-api"].Rate, s.Limiters["search-api"].Burst)
	}
}

// load decodes and validates the file at path.
func load(path string) (config.Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return config.Document{}, err
	}
	defer f.Close()
	doc, err := config.Decode(f)
	if err != nil {
		return config.Document{}, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

// backend plays the search service: it answers in 2ms.
func backend(ctx context.Context) (string, error) {
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(2 * time.Millisecond):
		return "results", nil
	}
}
