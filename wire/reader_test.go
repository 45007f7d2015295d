package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/binproto/binproto/internal/bufpool"
)

func growthFraming() *Framing {
	h := MustParseFormat(">H")
	return &Framing{
		Header:   h,
		NotFound: h.MaxUint(),
		Shapes:   NewShapes(map[uint64]Shape{2: {Variable: true}, 1: {Size: 16}}),
	}
}

// A frame that declares 1 MiB and delivers 10 bytes must not cost 1 MiB: the
// buffer grows with the bytes received, not with the declared length.
func TestFrameReaderGrowsWithBytesReceived(t *testing.T) {
	emptyLargeBuffers() // no buffer freed by an earlier test to borrow
	f := growthFraming()
	// Type 2, declared length 1 MiB (the maximum), then 10 payload bytes.
	data := []byte{0x00, 0x02, 0x00, 0x10, 0x00, 0x00}
	data = append(data, make([]byte, 10)...)
	fr := NewFrameReader(bytes.NewReader(data), f, 0)
	_, err := fr.ReadFrame()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if c := cap(fr.buf); c > DefaultReadBufferSize {
		t.Errorf("buffer of %d bytes for a frame of which 16 bytes arrived; want at most %d", c, DefaultReadBufferSize)
	}

	// As bytes keep arriving the buffer grows to at most twice what
	// arrived.
	const sent = 100 << 10
	data = append([]byte{0x00, 0x02, 0x00, 0x10, 0x00, 0x00}, make([]byte, sent)...)
	fr = NewFrameReader(bytes.NewReader(data), f, 0)
	if _, err := fr.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if c := cap(fr.buf); c > 2*(sent+6) {
		t.Errorf("buffer of %d bytes after %d bytes arrived; want at most %d", c, sent+6, 2*(sent+6))
	}
}

// Frames of every size, delivered in reads of every size, still come out
// whole and in order with the geometric growth.
func TestFrameReaderGrowthRoundTrip(t *testing.T) {
	f := growthFraming()
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var want [][]byte
	for _, n := range []int{0, 1, 4095, 4096, 4097, 10000, 70000, 3, 1 << 20, 5} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		var err error
		stream, err = f.AppendFrame(stream, 2, p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	for _, r := range []io.Reader{bytes.NewReader(stream), iotest.HalfReader(bytes.NewReader(stream)), iotest.DataErrReader(bytes.NewReader(stream))} {
		fr := NewFrameReader(r, f, 16)
		for i, w := range want {
			got, err := fr.ReadFrame()
			if err != nil || !bytes.Equal(got.Payload, w) {
				t.Fatalf("frame %d: %d bytes, %v; want %d bytes", i, len(got.Payload), err, len(w))
			}
		}
		if _, err := fr.ReadFrame(); err != io.EOF {
			t.Fatalf("after the last frame: %v, want io.EOF", err)
		}
	}
}

// A Framing without Shapes knows no type instead of panicking.
func TestNilShapesLookup(t *testing.T) {
	var s *Shapes
	if _, ok := s.Lookup(1); ok {
		t.Error("nil Shapes knows type 1")
	}
	f := &Framing{Header: MustParseFormat(">H"), NotFound: 0xFFFF}
	var ute *UnknownTypeError
	if _, err := f.AppendFrame(nil, 1, nil); !errors.As(err, &ute) {
		t.Errorf("AppendFrame: %v, want *UnknownTypeError", err)
	}
	if _, _, _, err := f.ParseFrame([]byte{0, 1}); !errors.As(err, &ute) {
		t.Errorf("ParseFrame: %v, want *UnknownTypeError", err)
	}
}

func TestDenseLen(t *testing.T) {
	for _, tt := range []struct {
		m    map[uint64]Shape
		want int
	}{
		{nil, 0},
		{map[uint64]Shape{0: {}}, 1},
		{map[uint64]Shape{3: {}, 9000: {}}, 4},
		{map[uint64]Shape{MaxDenseType - 1: {}}, MaxDenseType},
		{map[uint64]Shape{MaxDenseType: {}}, 0},
	} {
		if got := DenseLen(tt.m); got != tt.want {
			t.Errorf("DenseLen(%v) = %d, want %d", tt.m, got, tt.want)
		}
		s := NewShapes(tt.m)
		for k := range tt.m {
			if _, ok := s.Lookup(k); !ok {
				t.Errorf("type %d lost", k)
			}
		}
	}
}

// emptyLargeBuffers gives the readers an empty pool of frame buffers.
func emptyLargeBuffers() {
	frameBuffers = bufpool.New(bufpool.MaxShared)
}
