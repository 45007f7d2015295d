//go:build !race

// The race detector makes sync.Pool drop items at random, so the tests of
// reuse and of allocations run without it.

package bufpool

import "testing"

func TestZeroAllocs(t *testing.T) {
	p := New(4 << 20)
	for _, n := range []int{0, 1, MinSize, 4000, 64<<10 + 10, 1<<20 + 6, 4 << 20} {
		p.Put(p.Get(n)) // warm
		got := testing.AllocsPerRun(100, func() {
			b := p.Get(n)
			*b = append(*b, 1, 2, 3)
			p.Put(b)
		})
		if got != 0 {
			t.Errorf("Get(%d)+Put: %v allocations, want 0", n, got)
		}
	}
}

// A buffer put back is the one the next Get of its class returns: the
// memory is reused, not just equivalent.
func TestReuse(t *testing.T) {
	p := New(4 << 20)
	b := p.Get(64<<10 + 10)
	addr := &(*b)[:1][0]
	p.Put(b)
	c := p.Get(70 << 10)
	if &(*c)[:1][0] != addr {
		t.Error("Get after Put did not reuse the buffer")
	}
	// A buffer of odd capacity serves its class, not the next one.
	odd := make([]byte, 0, 100<<10)
	p.Put(&odd)
	if p.TryGet(100<<10) != nil {
		t.Error("a 100 KiB buffer was handed out for the 112 KiB class")
	}
	if d := p.TryGet(96 << 10); d == nil || cap(*d) != 100<<10 {
		t.Error("a 100 KiB buffer was not reused for the 96 KiB class")
	}
}
