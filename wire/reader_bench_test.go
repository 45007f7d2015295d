package wire

import (
	"fmt"
	"testing"
)

// loopReader serves data over and over, at most chunk bytes per Read, as a
// TCP connection carrying the same frames again and again would.
type loopReader struct {
	data  []byte
	pos   int
	chunk int
}

func (r *loopReader) Read(p []byte) (int, error) {
	if r.pos == len(r.data) {
		r.pos = 0
	}
	n := copy(p[:min(len(p), r.chunk)], r.data[r.pos:])
	r.pos += n
	return n, nil
}

// BenchmarkFrameReader reads a stream of frames of one payload size, in
// reads of at most 64 KiB (a TCP connection's typical read), through
// buffers taken from the shared pool.
func BenchmarkFrameReader(b *testing.B) {
	f := growthFraming()
	f.MaxPayload = 4 << 20
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			frame, err := f.AppendFrame(nil, 2, make([]byte, size))
			if err != nil {
				b.Fatal(err)
			}
			fr := NewFrameReader(&loopReader{data: frame, chunk: 64 << 10}, f, 0)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for range b.N {
				if _, err := fr.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
