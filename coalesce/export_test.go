package coalesce

// InFlight returns the number of keys with an execution in flight.
func InFlight[T any](g *Group[T]) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}
