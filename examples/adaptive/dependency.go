package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

var errorsIs = errors.Is

// dependency serves capacity calls at once at the base latency; beyond
// that, the calls in progress share it, so a call that starts while n are in
// progress takes base × n/capacity, times a random jitter of about ±20 %.
type dependency struct {
	mu       sync.Mutex // guards the fields below
	capacity int
	n        int
	rng      *rand.Rand
}

func (d *dependency) cap() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.capacity
}

func (d *dependency) setCap(c int) {
	d.mu.Lock()
	d.capacity = c
	d.mu.Unlock()
}

// call serves one call, or returns ctx's error if the caller gives up
// first.
func (d *dependency) call(ctx context.Context) (struct{}, error) {
	d.mu.Lock()
	d.n++
	f := max(1, float64(d.n)/float64(d.capacity)) * math.Exp(0.2*d.rng.NormFloat64())
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.n--
		d.mu.Unlock()
	}()
	t := time.NewTimer(time.Duration(f * float64(base)))
	defer t.Stop()
	select {
	case <-t.C:
		return struct{}{}, nil
	case <-ctx.Done():
		return struct{}{}, ctx.Err()
	}
}
