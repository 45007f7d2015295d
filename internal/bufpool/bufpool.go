package bufpool

import (
	"math"
	"math/bits"
	"sync"
)

// MinSize is the capacity of the smallest class.
const MinSize = 512

const minShift = 9 // MinSize == 1 << minShift

// MaxShared is the largest class of Shared: 8 GiB on 64-bit platforms (a
// frame with a payload of up to 2^32-1 bytes), 1 GiB on 32-bit ones.
const MaxShared = min(1<<33, math.MaxInt/2+1)

// Shared is the pool that binproto's readers, writers and connections
// share, so that a buffer freed by one serves the next, whoever needs it.
var Shared = New(MaxShared)

// Pool is a pool of byte buffers in size classes. Its methods are safe for
// concurrent use. A Pool must not be copied after first use.
type Pool struct {
	classes []sync.Pool // classes[k] holds buffers of capacity >= classSize(k)
	max     int         // capacity of the largest class
}

// New returns a pool whose classes go from MinSize up to the first class
// size at least max (MinSize if max is smaller), capped at MaxShared.
func New(max int) *Pool {
	max = min(max, MaxShared)
	k := getClass(max)
	return &Pool{classes: make([]sync.Pool, k+1), max: classSize(k)}
}

// Max returns the capacity of the largest class: Get(n) for n up to Max
// returns a pooled buffer, and Put keeps buffers of capacity up to Max.
func (p *Pool) Max() int { return p.max }

// Get returns a buffer of length 0 and capacity at least n, from the pool
// when one is free. For n > Max it allocates one of capacity n, which Put
// will drop.
func (p *Pool) Get(n int) *[]byte {
	if n > p.max {
		b := make([]byte, 0, n)
		return &b
	}
	k := getClass(n)
	if v, ok := p.classes[k].Get().(*[]byte); ok {
		*v = (*v)[:0]
		return v
	}
	b := make([]byte, 0, classSize(k))
	return &b
}

// TryGet is Get without the allocation: it returns nil when no pooled
// buffer of capacity at least n is free (always for n > Max).
func (p *Pool) TryGet(n int) *[]byte {
	if n > p.max {
		return nil
	}
	if v, ok := p.classes[getClass(n)].Get().(*[]byte); ok {
		*v = (*v)[:0]
		return v
	}
	return nil
}

// Put returns b to the pool. b may come from Get or from anywhere else
// (a buffer grown by append, say): it is filed under the largest class its
// capacity serves, or dropped when that capacity is below MinSize or above
// Max. A nil b, or one pointing to a nil slice, is ignored. The caller must
// not use b, or the buffer it held, afterwards.
func (p *Pool) Put(b *[]byte) {
	if b == nil {
		return
	}
	c := cap(*b)
	if c < MinSize || c > p.max {
		return
	}
	p.classes[putClass(c)].Put(b)
}

// The classes divide each doubling of size in four: 512, 640, 768, 896,
// 1024, 1280, ... bytes, so a buffer is at most a quarter larger than what
// it was asked for (a frame just over 1 MiB takes 1.25 MiB, not 2 MiB).
const classesPerDoubling = 4

// classSize returns the capacity of class k.
func classSize(k int) int {
	e, q := k/classesPerDoubling, k%classesPerDoubling
	return (classesPerDoubling + q) << (e + minShift - 2)
}

// getClass returns the smallest class whose buffers hold n bytes.
func getClass(n int) int {
	if n <= MinSize {
		return 0
	}
	p := bits.Len(uint(n-1)) - 1 // 2^p < n <= 2^(p+1)
	step := 1 << (p - 2)
	q := (n - 1<<p + step - 1) / step // 1..4 quarters above 2^p
	return classesPerDoubling*(p-minShift) + q
}

// putClass returns the largest class a buffer of capacity c >= MinSize
// can serve: classSize(putClass(c)) <= c.
func putClass(c int) int {
	p := bits.Len(uint(c)) - 1 // 2^p <= c < 2^(p+1)
	q := (c - 1<<p) >> (p - 2)
	return classesPerDoubling*(p-minShift) + q
}
