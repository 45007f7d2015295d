package bufpool

import (
	"fmt"
	"math"
	"sync"
	"testing"
)

func TestNewMax(t *testing.T) {
	tests := []struct{ max, want, classes int }{
		{-1, MinSize, 1},
		{0, MinSize, 1},
		{1, MinSize, 1},
		{MinSize, MinSize, 1},
		{MinSize + 1, 640, 2},
		{64 << 10, 64 << 10, 29},
		{64<<10 + 10, 80 << 10, 30},
		{1 << 20, 1 << 20, 45},
		{MaxShared, MaxShared, 0},   // 0: not checked (depends on the platform)
		{math.MaxInt, MaxShared, 0}, // capped
	}
	for _, tt := range tests {
		p := New(tt.max)
		if p.Max() != tt.want {
			t.Errorf("New(%d).Max() = %d, want %d", tt.max, p.Max(), tt.want)
		}
		if tt.classes != 0 && len(p.classes) != tt.classes {
			t.Errorf("New(%d): %d classes, want %d", tt.max, len(p.classes), tt.classes)
		}
		if got := classSize(len(p.classes) - 1); got != p.Max() {
			t.Errorf("New(%d): largest class %d, Max %d", tt.max, got, p.Max())
		}
	}
}

func TestClasses(t *testing.T) {
	tests := []struct {
		n         int
		get, put  int // put: the class of a buffer of capacity n (n >= MinSize)
		getCapMin int
	}{
		{0, 0, -1, MinSize},
		{1, 0, -1, MinSize},
		{MinSize - 1, 0, -1, MinSize},
		{MinSize, 0, 0, MinSize},
		{MinSize + 1, 1, 0, 640},
		{640, 1, 1, 640},
		{700, 2, 1, 768},
		{2*MinSize - 1, 4, 3, 2 * MinSize},
		{2 * MinSize, 4, 4, 2 * MinSize},
		{4096, 12, 12, 4096},
		{64 << 10, 28, 28, 64 << 10},
		{64<<10 + 10, 29, 28, 80 << 10}, // a 64 KiB payload's frame
		{1<<20 + 6, 45, 44, 1280 << 10}, // a 1 MiB payload's: a quarter more, not twice
		{3 << 20, 50, 50, 3 << 20},
	}
	for _, tt := range tests {
		if got := getClass(tt.n); got != tt.get {
			t.Errorf("getClass(%d) = %d, want %d", tt.n, got, tt.get)
		}
		if classSize(getClass(tt.n)) < tt.n {
			t.Errorf("class %d of %d is too small", getClass(tt.n), tt.n)
		}
		if tt.put >= 0 {
			if got := putClass(tt.n); got != tt.put {
				t.Errorf("putClass(%d) = %d, want %d", tt.n, got, tt.put)
			}
			if classSize(putClass(tt.n)) > tt.n {
				t.Errorf("putClass(%d) serves more than the capacity", tt.n)
			}
		}
		p := New(4 << 20)
		b := p.Get(tt.n)
		if len(*b) != 0 || cap(*b) != tt.getCapMin {
			t.Errorf("Get(%d): len %d cap %d, want 0, %d", tt.n, len(*b), cap(*b), tt.getCapMin)
		}
	}
}

// Every buffer Get returns holds what was asked for, whatever was Put
// before (odd capacities included), and has length 0.
func TestGetAfterPut(t *testing.T) {
	p := New(1 << 20)
	caps := []int{0, 100, MinSize, 700, 1000, 1024, 5000, 64<<10 + 10, 100 << 10, 1 << 20, 1<<20 + 1, 3 << 20}
	for _, c := range caps {
		for _, n := range caps {
			b := make([]byte, 7, max(c, 7))
			p.Put(&b)
			got := p.Get(n)
			if len(*got) != 0 || cap(*got) < n {
				t.Fatalf("Put(cap %d), Get(%d): len %d cap %d", c, n, len(*got), cap(*got))
			}
			if tg := p.TryGet(n); tg != nil && (len(*tg) != 0 || cap(*tg) < n) {
				t.Fatalf("TryGet(%d): len %d cap %d", n, len(*tg), cap(*tg))
			}
		}
	}
}

func TestGetOverMax(t *testing.T) {
	p := New(4096)
	b := p.Get(5000)
	if cap(*b) != 5000 || len(*b) != 0 {
		t.Fatalf("Get(5000) over Max: cap %d len %d", cap(*b), len(*b))
	}
	if p.TryGet(5000) != nil {
		t.Error("TryGet over Max returned a buffer")
	}
	p.Put(b) // dropped, not filed under the largest class
	p.Put(nil)
	var nilSlice []byte
	p.Put(&nilSlice)
}

func TestConcurrent(t *testing.T) {
	p := New(1 << 20)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				n := (i*7919 + g*104729) % (1 << 20)
				b := p.Get(n)
				if cap(*b) < n || len(*b) != 0 {
					t.Errorf("Get(%d): cap %d len %d", n, cap(*b), len(*b))
					return
				}
				*b = append(*b, byte(g))
				p.Put(b)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkGetPut(b *testing.B) {
	for _, n := range []int{512, 4096, 64<<10 + 10, 1<<20 + 6} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			p := New(16 << 20)
			b.ReportAllocs()
			for range b.N {
				buf := p.Get(n)
				*buf = append(*buf, 1)
				p.Put(buf)
			}
		})
	}
}

func BenchmarkGetPutParallel(b *testing.B) {
	p := New(16 << 20)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf := p.Get(64<<10 + 10)
			p.Put(buf)
		}
	})
}

// BenchmarkMake is the floor Get/Put is compared with: a fresh buffer of
// the same size per call.
func BenchmarkMake(b *testing.B) {
	for _, n := range []int{512, 4096, 64<<10 + 10, 1<<20 + 6} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				buf := make([]byte, 0, n)
				sink = append(buf, 1)
			}
		})
	}
}

var sink []byte
