package cache

import "sync"

// memory is the in-memory Store of New: a map and a least-recently-used
// list under one mutex, bounded by a number of entries.
type memory[T any] struct {
	max int

	// mu guards the fields below.
	mu   sync.Mutex
	m    map[string]*node[T]
	head node[T] // sentinel: head.next is the most recently used, head.prev the least
}

type node[T any] struct {
	key        string
	e          Entry[T]
	prev, next *node[T]
}

func newMemory[T any](max int) *memory[T] {
	s := &memory[T]{max: max, m: make(map[string]*node[T])}
	s.head.next, s.head.prev = &s.head, &s.head
	return s
}

// Get returns key's entry and marks it most recently used.
func (s *memory[T]) Get(key string) (Entry[T], bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.m[key]
	if !ok {
		return Entry[T]{}, false
	}
	s.moveFrontLocked(n)
	return n.e, true
}

// Set stores e for key as the most recently used entry, evicting the least
// recently used one when the store is full.
func (s *memory[T]) Set(key string, e Entry[T]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.m[key]; ok {
		n.e = e
		s.moveFrontLocked(n)
		return
	}
	var n *node[T]
	if len(s.m) >= s.max {
		// Reuse the evicted node: a full cache churning keys does not
		// allocate a node per new key.
		n = s.head.prev
		s.unlinkLocked(n)
		delete(s.m, n.key)
		*n = node[T]{}
	} else {
		n = new(node[T])
	}
	n.key, n.e = key, e
	s.m[key] = n
	s.linkFrontLocked(n)
}

// Delete removes key's entry.
func (s *memory[T]) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.m[key]; ok {
		s.unlinkLocked(n)
		delete(s.m, key)
	}
}

// len returns the number of entries.
func (s *memory[T]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// moveFrontLocked must be called with s.mu held.
func (s *memory[T]) moveFrontLocked(n *node[T]) {
	if s.head.next == n {
		return
	}
	s.unlinkLocked(n)
	s.linkFrontLocked(n)
}

// unlinkLocked must be called with s.mu held.
func (s *memory[T]) unlinkLocked(n *node[T]) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

// linkFrontLocked must be called with s.mu held.
func (s *memory[T]) linkFrontLocked(n *node[T]) {
	n.prev, n.next = &s.head, s.head.next
	s.head.next.prev = n
	s.head.next = n
}
