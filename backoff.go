package binproto

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is a jittered exponential back-off: the n-th wait (from 0) is
// Initial × Multiplier^n, at most Max, then spread at random by ±Jitter of
// itself, so that clients that lost a server together do not all redial
// it together. The zero value uses the defaults below.
type Backoff struct {
	// Initial is the first wait. Default DefaultBackoffInitial.
	Initial time.Duration
	// Max bounds the wait before jitter. Default DefaultBackoffMax.
	Max time.Duration
	// Multiplier is the growth of each wait over the previous one; a value
	// under 1 means the default, DefaultBackoffMultiplier.
	Multiplier float64
	// Jitter is the spread, a fraction of the wait in [0, 1]: 0.2 waits
	// between 80 % and 120 % of it. Zero means the default,
	// DefaultBackoffJitter; a negative value means none.
	Jitter float64
}

// Defaults of Backoff.
const (
	DefaultBackoffInitial    = 100 * time.Millisecond
	DefaultBackoffMax        = 5 * time.Second
	DefaultBackoffMultiplier = 1.6
	DefaultBackoffJitter     = 0.2
)

// Delay returns the wait before retry number n (from 0), with its jitter
// drawn at random.
func (b Backoff) Delay(n int) time.Duration { return b.delay(n, rand.Float64()) }

// delay is Delay with the random draw r in [0, 1) given.
func (b Backoff) delay(n int, r float64) time.Duration {
	initial, maxWait, mult, jitter := b.Initial, b.Max, b.Multiplier, b.Jitter
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if maxWait <= 0 {
		maxWait = DefaultBackoffMax
	}
	maxWait = max(maxWait, initial)
	if mult < 1 {
		mult = DefaultBackoffMultiplier
	}
	switch {
	case jitter == 0:
		jitter = DefaultBackoffJitter
	case jitter < 0:
		jitter = 0
	case jitter > 1:
		jitter = 1
	}
	d := math.Min(float64(initial)*math.Pow(mult, float64(max(n, 0))), float64(maxWait))
	return time.Duration(d * (1 + jitter*(2*r-1)))
}
