//go:build !race

// The race detector makes sync.Pool drop items at random, so the test of
// buffer reuse runs without it.

package wire

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"testing/iotest"
)

// TestFrameReaderReusesLargeBuffers: back-to-back 1 MiB frames reuse the
// buffer the previous one freed instead of regrowing one step by step.
func TestFrameReaderReusesLargeBuffers(t *testing.T) {
	f := growthFraming()
	f.MaxPayload = 2 << 20
	const size = 1 << 20
	frame := []byte{0x00, 0x02, 0x00, 0x10, 0x00, 0x00}
	frame = append(frame, bytes.Repeat([]byte{7}, size)...)
	stream := bytes.Repeat(frame, 4)
	fr := NewFrameReader(iotest.HalfReader(bytes.NewReader(stream)), f, 0)
	if _, err := fr.ReadFrame(); err != nil { // grows step by step once
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 3 {
		fr2, err := fr.ReadFrame()
		if err != nil || len(fr2.Payload) != size || fr2.Payload[size-1] != 7 {
			t.Fatalf("frame: %d bytes, %v", len(fr2.Payload), err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > size/2 {
		t.Errorf("3 more 1 MiB frames allocated %d bytes; want the first frame's buffer reused", n)
	}
}

// Frames of any size up to MaxPayload, 64 KiB payloads (frames just over
// 64 KiB) included, are read without allocating once the pool is warm.
func TestFrameReaderZeroAllocs(t *testing.T) {
	f := growthFraming()
	f.MaxPayload = 4 << 20
	for _, size := range []int{0, 100, 4000, 60 << 10, 64 << 10, 64<<10 + 1, 200 << 10, 1 << 20, 4 << 20} {
		frame, err := f.AppendFrame(nil, 2, bytes.Repeat([]byte{7}, size))
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{16 << 10, 64 << 10, 1 << 30} {
			fr := NewFrameReader(&loopReader{data: frame, chunk: chunk}, f, 0)
			var bad error
			read := func() {
				got, err := fr.ReadFrame()
				if err == nil && len(got.Payload) != size {
					err = fmt.Errorf("payload of %d bytes", len(got.Payload))
				}
				if err != nil {
					bad = err
				}
			}
			read() // warms the pool
			read()
			if n := testing.AllocsPerRun(20, read); n != 0 {
				t.Errorf("%d-byte payloads in reads of %d: %v allocations per frame, want 0", size, chunk, n)
			}
			if bad != nil {
				t.Fatalf("%d-byte payloads: %v", size, bad)
			}
		}
	}
}

// Two readers taking turns at 64 KiB frames share one buffer: the one a
// frame freed on the first serves the next frame on the second.
func TestFrameReadersShareBuffers(t *testing.T) {
	emptyLargeBuffers()
	f := growthFraming()
	frame, _ := f.AppendFrame(nil, 2, make([]byte, 64<<10))
	a := NewFrameReader(&loopReader{data: frame, chunk: 1 << 30}, f, 0)
	b := NewFrameReader(&loopReader{data: frame, chunk: 1 << 30}, f, 0)
	for _, fr := range []*FrameReader{a, b, a} {
		if _, err := fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	}
	first := &a.buf[0]
	if !a.Release() {
		t.Fatal("Release with nothing buffered refused")
	}
	if a.buf != nil {
		t.Fatal("Release kept the buffer")
	}
	if _, err := b.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if &b.buf[0] != first {
		t.Error("the buffer a released did not serve b's next frame")
	}
}
