package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ionkit/ion/pool"
)

// progress draws the batch's progress bar: redrawn in place every tick while
// the batch runs when live, and once more, final, when it stops.
type progress struct {
	w    io.Writer
	b    *batch
	p    *pool.Pool
	live bool

	mu   sync.Mutex // serializes drawing with pause and resume
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, b *batch, p *pool.Pool, opts options) *progress {
	pr := &progress{w: w, b: b, p: p, live: opts.live, done: make(chan struct{})}
	if !opts.live {
		return pr
	}
	// Owner: run, through pr; exits when stop closes done; joined by stop.
	pr.wg.Go(func() {
		t := time.NewTicker(opts.tick)
		defer t.Stop()
		for {
			select {
			case <-pr.done:
				return
			case <-t.C:
				pr.mu.Lock()
				fmt.Fprint(pr.w, "\r"+pr.line())
				pr.mu.Unlock()
			}
		}
	})
	return pr
}

// pause ends the bar's line so that other output can be printed below it,
// and stops redrawing until resume.
func (pr *progress) pause() {
	pr.mu.Lock()
	if pr.live {
		fmt.Fprintln(pr.w, "\r"+pr.line())
	}
}

func (pr *progress) resume() { pr.mu.Unlock() }

// stop stops redrawing and draws the final bar.
func (pr *progress) stop() {
	close(pr.done)
	pr.wg.Wait()
	fmt.Fprintln(pr.w, "\r"+pr.line())
}

// line renders the bar, such as
// "[######--------------]  36/120  done 34  failed 0  running 4  queued 8  submitter waiting for room".
func (pr *progress) line() string {
	m := pr.p.Snapshot()
	pr.b.mu.Lock()
	total := len(pr.b.status)
	c := pr.b.counts
	pr.b.mu.Unlock()

	const width = 30
	finished := c[completed] + c[failed] + c[interrupted] + c[discarded]
	filled := 0
	if total > 0 {
		filled = finished * width / total
	}
	s := fmt.Sprintf("[%s%s] %3d/%d  done %d  failed %d  running %d  queued %d",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), finished, total,
		c[completed], c[failed], m.Running, m.Queued)
	if m.Blocked > 0 {
		s += "  submitter waiting for room"
	}
	return s + "   " // covers the tail of a longer previous line
}
