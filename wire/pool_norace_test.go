//go:build !race

// The race detector makes sync.Pool drop items at random, so the test of
// buffer reuse runs without it.

package wire

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"time"
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
// 64 KiB) included, are read without allocating once the pool is warm, in
// either layout.
func TestFrameReaderZeroAllocs(t *testing.T) {
	f := growthFraming()
	f.MaxPayload = 4 << 20
	n := &Native{Checksum: CRC32, MaxPayload: 4 << 20}
	layouts := []struct {
		name  string
		frame func(payload []byte) ([]byte, error)
		open  func(r io.Reader) *FrameReader
	}{
		{"compatible", func(p []byte) ([]byte, error) { return f.AppendFrame(nil, 2, p) },
			func(r io.Reader) *FrameReader { return NewFrameReader(r, f, 0) }},
		{"native", func(p []byte) ([]byte, error) {
			return n.AppendFrame(nil, &NativeHeader{Kind: KindRequest, ID: 1, Type: 2, Timeout: time.Second}, p)
		}, func(r io.Reader) *FrameReader { return NewNativeReader(r, n, 0) }},
	}
	for _, l := range layouts {
		for _, size := range []int{0, 100, 4000, 60 << 10, 64 << 10, 64<<10 + 1, 200 << 10, 1 << 20, 4 << 20} {
			frame, err := l.frame(bytes.Repeat([]byte{7}, size))
			if err != nil {
				t.Fatal(err)
			}
			for _, chunk := range []int{16 << 10, 64 << 10, 1 << 30} {
				fr := l.open(&loopReader{data: frame, chunk: chunk})
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
				if allocs := testing.AllocsPerRun(20, read); allocs != 0 {
					t.Errorf("%s: %d-byte payloads in reads of %d: %v allocations per frame, want 0", l.name, size, chunk, allocs)
				}
				if bad != nil {
					t.Fatalf("%s: %d-byte payloads: %v", l.name, size, bad)
				}
			}
		}
	}
}

// Appending and parsing native frames of every kind allocates nothing.
func TestNativeAppendParseZeroAllocs(t *testing.T) {
	n := &Native{Checksum: CRC32}
	meta := AppendMeta(nil, "traceparent", "00-01-02-01")
	h := NativeHeader{Kind: KindRequest, ID: 1, Type: 300, Timeout: time.Second, Meta: meta}
	payload := make([]byte, 100)
	buf := make([]byte, 0, 4096)
	var bad error
	run := func() {
		b, err := n.AppendFrame(buf[:0], &h, payload)
		b = n.AppendError(b, 1, CodeInternal, false, "boom")
		b = n.AppendPing(b, [8]byte{}, true)
		b = n.AppendGoAway(b, 1, CodeUnavailable, "bye")
		b = n.AppendCancel(b, 1)
		for err == nil && len(b) > 0 {
			var ok bool
			b, _, ok, err = n.ParseFrame(b)
			if !ok && err == nil {
				err = fmt.Errorf("frame cut")
			}
		}
		if err != nil {
			bad = err
		}
	}
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
	if bad != nil {
		t.Fatal(bad)
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
