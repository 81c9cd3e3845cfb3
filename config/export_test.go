package config

import (
	"github.com/ionkit/ion/pool"
	"github.com/ionkit/ion/sem"
)

// BulkheadOf returns the semaphore of the bulkhead named name in the
// document in force, or nil, so that a test can tell whether Apply kept it.
func BulkheadOf(r *Registry, name string) *sem.Weighted { return r.current().bulkheads[name] }

// PoolOf returns the pool named name in the document in force, or nil.
func PoolOf(r *Registry, name string) *pool.Pool { return r.current().pools[name] }
