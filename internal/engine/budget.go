package engine

import (
	"os"
	"sync"
	"time"
)

// Budget bounds the frame bytes that the connections of one server hold in
// memory together beyond each one's own allowance: the read buffers of large
// frames, the payload copies of handlers run by Go, and replies waiting to
// be written. A connection that needs more than is free waits (its reads
// stop, so TCP pushes back on its peer) rather than growing memory; waiters
// are served in order. It is safe for concurrent use.
type Budget struct {
	max int64

	mu      sync.Mutex
	used    int64
	waiters []*budgetWaiter // oldest first
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when the bytes are granted
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Max returns the budget's size.
func (b *Budget) Max() int64 { return b.max }

// Used returns the bytes held now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// clamp bounds a request to the whole budget, so that one larger than it
// waits for everything rather than for ever.
func (b *Budget) clamp(n int64) int64 { return min(n, b.max) }

// acquire takes n bytes, waiting until they are free, deadline passes (a
// zero deadline: none) or done is closed. It returns the bytes taken
// (n clamped to the budget), or an error: os.ErrDeadlineExceeded, or
// errDone.
func (b *Budget) acquire(n int64, deadline time.Time, done <-chan struct{}) (int64, error) {
	n = b.clamp(n)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.max {
		b.used += n
		b.mu.Unlock()
		return n, nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	var err error
	select {
	case <-w.ready:
		return n, nil
	case <-expired:
		err = os.ErrDeadlineExceeded
	case <-done:
		err = errDone
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.releaseLocked(n)
	default:
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
		b.grantLocked() // the waiters behind it may fit now
	}
	return 0, err
}

// tryAcquire takes n bytes if they are free now and nobody waits.
func (b *Budget) tryAcquire(n int64) (int64, bool) {
	n = b.clamp(n)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiters) == 0 && b.used+n <= b.max {
		b.used += n
		return n, true
	}
	return 0, false
}

// force takes n bytes at once, even over the bound: for memory already
// committed. Waiters are then served once enough is given back.
func (b *Budget) force(n int64) int64 {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
	return n
}

// release gives back n bytes taken by acquire.
func (b *Budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.releaseLocked(n)
	b.mu.Unlock()
}

func (b *Budget) releaseLocked(n int64) {
	b.used -= n
	b.grantLocked()
}

// grantLocked wakes the waiters, oldest first, whose bytes are free.
func (b *Budget) grantLocked() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.max {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.used += w.n
		close(w.ready)
	}
}

// errDone is the error of a budget wait cut short by the connection's end.
var errDone = os.ErrClosed
