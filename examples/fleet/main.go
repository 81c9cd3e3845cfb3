// Command fleet shows limits shared by the replicas of a service: three
// replicas share a rate limit of 100 calls a second and a bulkhead of 5
// concurrent calls, kept in Redis by Ion's ionredis. Each second it prints
// what each replica and the whole fleet admitted; then it kills the backend
// and shows the failure mode at work.
//
// By default it runs on an embedded Redis (miniredis); -redis host:port uses
// a real one (which it cannot kill: stop it yourself during the second
// phase to see the failure mode).
//
//	go run . [-redis host:port] [-mode closed|open|local] [-seconds 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "redis", "", "host:port of a Redis to use instead of the embedded one")
	flag.StringVar(&cfg.mode, "mode", "local", "failure mode when Redis is down: closed, open or local")
	secs := flag.Int("seconds", 3, "seconds of each phase (Redis up, then down)")
	flag.Parse()
	cfg.phase = time.Duration(*secs) * time.Second
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}
