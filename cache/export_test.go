package cache

// Len returns the number of entries in c's in-memory store.
func Len[T any](c *Cache[T]) int { return c.store.(*memory[T]).len() }
