//go:build !race

// The race detector makes sync.Pool drop items at random, so the test of
// buffer reuse runs without it.

package wire

import (
	"bytes"
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
