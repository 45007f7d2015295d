package wire

import (
	"fmt"
	"testing"
	"time"
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

// BenchmarkNativeReader reads a stream of native REQUEST frames (deadline,
// CRC-32) of one payload size, as BenchmarkFrameReader does the compatible
// ones.
func BenchmarkNativeReader(b *testing.B) {
	n := &Native{Checksum: CRC32, MaxPayload: 4 << 20}
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			frame, err := n.AppendFrame(nil, &NativeHeader{Kind: KindRequest, ID: 1, Type: 2, Timeout: time.Second}, make([]byte, size))
			if err != nil {
				b.Fatal(err)
			}
			fr := NewNativeReader(&loopReader{data: frame, chunk: 64 << 10}, n, 0)
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

// BenchmarkNativeAppendParse appends a small REQUEST frame with a deadline
// and parses it back.
func BenchmarkNativeAppendParse(b *testing.B) {
	n := &Native{}
	h := NativeHeader{Kind: KindRequest, ID: 1, Type: 2, Timeout: time.Second}
	payload := make([]byte, 16)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for range b.N {
		out, err := n.AppendFrame(buf[:0], &h, payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, ok, err := n.ParseFrame(out); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
