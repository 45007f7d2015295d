package binproto

import (
	"maps"
	"sync"
	"sync/atomic"
)

// cowMap is a map read without locks and written copy-on-write: a write
// copies the map, changes the copy and publishes it, so lookups on the hot
// path never contend with registrations. Writes are rare (handlers,
// validators and codec verdicts are registered once).
type cowMap[K comparable, V any] struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[K]V]
}

// load returns the value for k.
func (c *cowMap[K, V]) load(k K) (v V, ok bool) {
	if m := c.m.Load(); m != nil {
		v, ok = (*m)[k]
	}
	return v, ok
}

// update applies change to a copy of the map and publishes the copy, unless
// change returns false.
func (c *cowMap[K, V]) update(change func(m map[K]V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[K]V)
	if old := c.m.Load(); old != nil {
		next = maps.Clone(*old)
	}
	if change(next) {
		c.m.Store(&next)
	}
}

// set stores v for k.
func (c *cowMap[K, V]) set(k K, v V) {
	c.update(func(m map[K]V) bool { m[k] = v; return true })
}

// remove deletes k.
func (c *cowMap[K, V]) remove(k K) {
	c.update(func(m map[K]V) bool { delete(m, k); return true })
}
