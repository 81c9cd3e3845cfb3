package config

import (
	"reflect"

	"github.com/ionkit/ion/pool"
)

// PoolConfig configures a [pool.Pool] whose workers run a pipeline's calls
// ([pool.Policy]). Every field changes in place on reload: the pool keeps
// its workers, its queued tasks, its blocked submitters and its counters.
type PoolConfig struct {
	// Size is the number of workers, ≥ 1. Required. It changes in place on
	// reload (pool.Pool.Resize).
	Size int `json:"size" yaml:"size"`
	// QueueSize is the number of tasks that may wait for a worker, ≥ 0.
	// Default 0: every submission is a hand-off. It changes in place on
	// reload (pool.Pool.SetQueueSize): a shrink keeps the tasks queued.
	QueueSize int `json:"queue_size,omitempty" yaml:"queue_size,omitempty"`
	// IdleTimeout is how long an idle worker lives (pool.WithIdleTimeout),
	// ≥ 0. Default 10s (pool.DefaultIdleTimeout). It changes in place on
	// reload (pool.Pool.Reconfigure, as the fields below), for the workers
	// already idle too.
	IdleTimeout *Duration `json:"idle_timeout,omitempty" yaml:"idle_timeout,omitempty"`
	// MaxQueueWait bounds a task's wait in the queue
	// (pool.WithMaxQueueWait), ≥ 0. Default 0: no bound. It changes in
	// place on reload, for the tasks already queued too.
	MaxQueueWait Duration `json:"max_queue_wait,omitempty" yaml:"max_queue_wait,omitempty"`
	// QueueOrder is "fifo" (the default) or "lifo" (pool.WithQueueOrder).
	// It changes in place on reload, from the next task taken.
	QueueOrder string `json:"queue_order,omitempty" yaml:"queue_order,omitempty"`
	// CoDel sheds the old tasks of a standing queue (pool.WithCoDel).
	// Default: off. It changes in place on reload: turned on, it starts
	// afresh; a new target or interval keeps its state.
	CoDel *CoDelConfig `json:"codel,omitempty" yaml:"codel,omitempty"`
	// AdaptiveLIFO makes workers take the newest task first from that queue
	// length on (pool.WithAdaptiveLIFO), ≥ 1. Default 0: off. It changes in
	// place on reload, from the next task taken.
	AdaptiveLIFO int `json:"adaptive_lifo,omitempty" yaml:"adaptive_lifo,omitempty"`
}

var queueOrder = map[string]pool.Order{"": pool.FIFO, "fifo": pool.FIFO, "lifo": pool.LIFO}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
func (c PoolConfig) Validate() error {
	var p problems
	if c.Size < 1 {
		p.addf("size", "must be ≥ 1, got %d", c.Size)
	}
	if c.QueueSize < 0 {
		p.addf("queue_size", "must be ≥ 0, got %d", c.QueueSize)
	}
	if c.IdleTimeout != nil && *c.IdleTimeout < 0 {
		p.addf("idle_timeout", "must be ≥ 0, got %v", *c.IdleTimeout)
	}
	if c.MaxQueueWait < 0 {
		p.addf("max_queue_wait", "must be ≥ 0, got %v", c.MaxQueueWait)
	}
	if _, ok := queueOrder[c.QueueOrder]; !ok {
		p.addf("queue_order", "must be fifo or lifo, got %q", c.QueueOrder)
	}
	c.CoDel.validate(&p)
	if c.AdaptiveLIFO < 0 {
		p.addf("adaptive_lifo", "must be ≥ 1, got %d", c.AdaptiveLIFO)
	}
	if len(p.errs) == 0 {
		// New starts no goroutine: an unused pool needs no Close.
		p.own("", c.build("validate", &sinks{}).Err())
	}
	return p.err()
}

// build returns the pool c describes. c must be valid.
func (c PoolConfig) build(name string, s *sinks) *pool.Pool {
	opts := append(s.pool(), pool.WithName(name))
	return pool.New(c.Size, c.QueueSize, append(opts, c.settings()...)...)
}

// settings returns the options of c that pool.Pool.Reconfigure changes:
// every field but the size and the queue's size, so that they are the whole
// queue configuration (an idle timeout left out is the default, as New
// takes it).
func (c PoolConfig) settings() []pool.Option {
	opts := []pool.Option{pool.WithMaxQueueWait(c.MaxQueueWait.std()), pool.WithQueueOrder(queueOrder[c.QueueOrder])}
	if c.IdleTimeout != nil {
		opts = append(opts, pool.WithIdleTimeout(c.IdleTimeout.std()))
	}
	if d := c.CoDel; d != nil {
		opts = append(opts, pool.WithCoDel(d.Target.std(), d.Interval.std()))
	}
	if c.AdaptiveLIFO > 0 {
		opts = append(opts, pool.WithAdaptiveLIFO(c.AdaptiveLIFO))
	}
	return opts
}

// sameSettings reports whether c and o agree on every field but the size
// and the queue's size, which a reload changes on their own.
func (c PoolConfig) sameSettings(o PoolConfig) bool {
	c.Size, c.QueueSize = o.Size, o.QueueSize
	return reflect.DeepEqual(c, o)
}
