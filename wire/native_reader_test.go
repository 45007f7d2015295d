package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/binproto/binproto/wire"
)

// nativeStream returns a stream of native frames of every kind and the
// frames ParseFrame makes of it.
func nativeStream(t testing.TB, n *wire.Native) ([]byte, []wire.Frame) {
	var b []byte
	meta := wire.AppendMeta(nil, "traceparent", "00-01-02-01")
	for i, h := range []wire.NativeHeader{
		{Kind: wire.KindRequest, ID: 1, Type: 1, Timeout: time.Second, Meta: meta},
		{Kind: wire.KindReply, ID: 1, Type: 1},
		{Kind: wire.KindMessage, Type: 9, Meta: meta},
		{Kind: wire.KindRequest, ID: 2, Type: 70},
	} {
		var err error
		if b, err = n.AppendFrame(b, &h, bytes.Repeat([]byte{byte(i)}, i*3000)); err != nil {
			t.Fatal(err)
		}
	}
	b = n.AppendError(b, 2, wire.CodeDeadlineExceeded, false, "late")
	b = n.AppendCancel(b, 3)
	b = n.AppendPing(b, [8]byte{1}, false)
	b = n.AppendGoAway(b, 2, wire.CodeUnavailable, "bye")
	var frames []wire.Frame
	for rest := b; len(rest) > 0; {
		var fr wire.Frame
		var ok bool
		var err error
		rest, fr, ok, err = n.ParseFrame(rest)
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		frames = append(frames, fr)
	}
	return b, frames
}

func sameFrame(a, b wire.Frame) bool {
	return a.Kind == b.Kind && a.Flags == b.Flags && a.ID == b.ID && a.Type == b.Type && a.Timeout == b.Timeout &&
		bytes.Equal(a.Meta, b.Meta) && bytes.Equal(a.Payload, b.Payload) && a.Len == b.Len
}

// A native reader returns the frames ParseFrame finds, whatever the
// stream's reads, then io.EOF.
func TestNativeReader(t *testing.T) {
	for _, nt := range natives {
		data, want := nativeStream(t, nt.n)
		for name, r := range map[string]func() io.Reader{
			"whole":    func() io.Reader { return bytes.NewReader(data) },
			"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
			"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		} {
			fr := wire.NewNativeReader(r(), nt.n, 64)
			for i, w := range want {
				got, err := fr.ReadFrame()
				if err != nil || !sameFrame(got, w) {
					t.Fatalf("%s/%s: frame %d = %+v, %v; want %+v", nt.name, name, i, got, err, w)
				}
			}
			if _, err := fr.ReadFrame(); err != io.EOF {
				t.Errorf("%s/%s: after the last frame: %v, want io.EOF", nt.name, name, err)
			}
		}
		fr := wire.NewNativeReader(bytes.NewReader(data[:len(data)-1]), nt.n, 0)
		var err error
		for err == nil {
			_, err = fr.ReadFrame()
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: stream cut inside a frame: %v", nt.name, err)
		}
	}
}

// A server reads a connection's first bytes to tell the profiles apart,
// then the preface, and primes the reader with what it read past it.
func TestNativeReaderPrime(t *testing.T) {
	n := &wire.Native{Checksum: wire.CRC32}
	frames, want := nativeStream(t, n)
	preface, err := wire.AppendPreface(nil, &wire.Preface{Role: wire.RoleClient, Fingerprint: sampleDescription.Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	conn := bytes.NewReader(append(preface, frames...))
	// The sniff: the first 3 bytes could be the magic.
	head := make([]byte, 100)
	if _, err := io.ReadFull(conn, head[:3]); err != nil {
		t.Fatal(err)
	}
	if prefix, _ := wire.MatchMagic(head[:3]); !prefix {
		t.Fatal("magic not recognised")
	}
	// The rest of what a first read brings: the preface and part of a frame.
	if _, err := io.ReadFull(conn, head[3:]); err != nil {
		t.Fatal(err)
	}
	_, used, ok, err := wire.ParsePreface(head)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	fr := wire.NewNativeReader(iotest.OneByteReader(conn), n, 16)
	fr.Prime(head[used:70])
	fr.Prime(head[70:]) // priming twice appends
	if fr.Buffered() != len(head)-used {
		t.Fatalf("Buffered = %d after priming %d bytes", fr.Buffered(), len(head)-used)
	}
	fr.Prime(nil)
	for i, w := range want {
		got, err := fr.ReadFrame()
		if err != nil || !sameFrame(got, w) {
			t.Fatalf("frame %d = %+v, %v; want %+v", i, got, err, w)
		}
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Errorf("after the last frame: %v", err)
	}
}

// Priming works for the compatible layout too: a server that sniffed a
// compatible client's first bytes hands them over.
func TestCompatibleReaderPrime(t *testing.T) {
	f := newFraming(">H", nil)
	data, want := stream(f)
	fr := wire.NewFrameReader(bytes.NewReader(data[2:]), f, 0)
	fr.Prime(data[:2])
	for i, w := range want {
		got, err := fr.ReadFrame()
		if err != nil || got.Type != w.Type || !bytes.Equal(got.Payload, w.Payload) || got.Kind != 0 {
			t.Fatalf("frame %d = %+v, %v", i, got, err)
		}
	}
}

// SetMaxPayload changes the reader's own copy of the layout: a lowered
// limit refuses a large frame by its declared length, before reading it,
// and leaves the Native it was made with alone.
func TestNativeReaderSetMaxPayload(t *testing.T) {
	n := &wire.Native{}
	big, err := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindMessage, Type: 1}, make([]byte, 100000))
	if err != nil {
		t.Fatal(err)
	}
	fr := wire.NewNativeReader(iotest.OneByteReader(&guardReader{t: t, data: big[:wire.LengthSize]}), n, 0)
	fr.SetMaxPayload(1000)
	if _, err := fr.ReadFrame(); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("frame over the lowered limit: %v", err)
	}
	if n.MaxPayload != 0 {
		t.Errorf("SetMaxPayload changed the Native given: %d", n.MaxPayload)
	}
	// Restored, the frame passes.
	fr = wire.NewNativeReader(bytes.NewReader(append(big, big...)), n, 0)
	fr.SetMaxPayload(1000)
	fr.SetMaxPayload(0)
	if _, err := fr.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	// Within MaxFrame but over MaxPayload: refused once read.
	fr.SetMaxPayload(99990)
	var tl *wire.TooLargeError
	if _, err := fr.ReadFrame(); !errors.As(err, &tl) || tl.Max != 99990 {
		t.Errorf("payload over the limit within MaxFrame: %v", err)
	}
	// The compatible reader changes its Framing.
	f := newFraming(">H", nil)
	wire.NewFrameReader(bytes.NewReader(nil), f, 0).SetMaxPayload(77)
	if f.MaxPayload != 77 {
		t.Errorf("compatible SetMaxPayload: %d", f.MaxPayload)
	}
}

// Reserve is asked for the bytes of the length field, then for the whole
// frame, before the buffer grows for it; its error ends the read.
func TestNativeReaderReserve(t *testing.T) {
	n := &wire.Native{}
	b, err := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindReply, ID: 1, Type: 1}, make([]byte, 5000))
	if err != nil {
		t.Fatal(err)
	}
	var asked []int
	fr := wire.NewNativeReader(bytes.NewReader(b), n, 0)
	fr.Reserve = func(need int) error { asked = append(asked, need); return nil }
	if _, err := fr.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[0] != wire.LengthSize || asked[1] != len(b) {
		t.Errorf("Reserve asked for %v, want [%d %d]", asked, wire.LengthSize, len(b))
	}
	errFull := errors.New("budget spent")
	fr = wire.NewNativeReader(bytes.NewReader(b), n, 0)
	fr.Reserve = func(need int) error {
		if need > 100 {
			return errFull
		}
		return nil
	}
	if _, err := fr.ReadFrame(); !errors.Is(err, errFull) {
		t.Errorf("Reserve's error: %v", err)
	}
}

// A malformed frame ends the reader for good.
func TestNativeReaderErrorsSticky(t *testing.T) {
	n := &wire.Native{}
	good := n.AppendCancel(nil, 1)
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"unknown kind", []byte{0, 0, 0, 6, 9, 0, 0, 0, 0, 0}, wire.ErrNativeKind},
		{"length too large", []byte{0x7f, 0, 0, 0}, wire.ErrTooLarge},
		{"cancel with id 0", n.AppendCancel(nil, 0), wire.ErrFormat},
	} {
		fr := wire.NewNativeReader(bytes.NewReader(append(tt.b, good...)), n, 0)
		for range 2 {
			if _, err := fr.ReadFrame(); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
	}
}
