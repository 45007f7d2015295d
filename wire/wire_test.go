package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/binproto/binproto/wire"
)

const (
	typeSensor = 1  // fixed, 16 bytes
	typeStatus = 2  // variable
	typeEmpty  = 3  // fixed, 0 bytes
	typeBig    = 70 // variable, above the dense table
)

func newFraming(header string, sum wire.Checksum) *wire.Framing {
	h := wire.MustParseFormat(header)
	return &wire.Framing{
		Header:   h,
		Checksum: sum,
		NotFound: h.MaxUint(),
		Shapes: wire.NewShapes(map[uint64]wire.Shape{
			typeSensor: {Size: 16},
			typeStatus: {Variable: true},
			typeEmpty:  {},
			typeBig:    {Variable: true},
			5000:       {Size: 1},
		}),
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var sensorPayload = mustHex("3fc00000c01000003e00000040400000")

func TestShapesLookup(t *testing.T) {
	s := wire.NewShapes(map[uint64]wire.Shape{0: {Size: 1}, 4095: {Variable: true}, 4096: {Size: 3}, 1 << 40: {Size: 9}})
	for typ, want := range map[uint64]wire.Shape{0: {Size: 1}, 4095: {Variable: true}, 4096: {Size: 3}, 1 << 40: {Size: 9}} {
		if got, ok := s.Lookup(typ); !ok || got != want {
			t.Errorf("Lookup(%d) = %+v, %v", typ, got, ok)
		}
	}
	for _, typ := range []uint64{1, 4094, 4097, 1<<64 - 1} {
		if _, ok := s.Lookup(typ); ok {
			t.Errorf("Lookup(%d) found a shape", typ)
		}
	}
}

// TestFrameVectors checks frames against golden bytes of the Python package.
func TestFrameVectors(t *testing.T) {
	tests := []struct {
		header  string
		sum     wire.Checksum
		typ     uint64
		payload []byte
		hex     string
	}{
		{">H", wire.CRC32, typeSensor, sensorPayload, "00013fc00000c01000003e000000404000009ea82578"},
		{">B", nil, typeSensor, sensorPayload, "013fc00000c01000003e00000040400000"},
		{"<I", nil, typeSensor, sensorPayload, "010000003fc00000c01000003e00000040400000"},
		{">H", nil, typeStatus, mustHex("000000c80000000568656c6c6f"), "00020000000d000000c80000000568656c6c6f"},
		{">H", nil, typeEmpty, nil, "0003"},
	}
	for _, tt := range tests {
		f := newFraming(tt.header, tt.sum)
		got, err := f.AppendFrame([]byte("x"), tt.typ, tt.payload)
		if err != nil || hex.EncodeToString(got[1:]) != tt.hex || got[0] != 'x' {
			t.Errorf("AppendFrame = %x, %v; want x+%s", got, err, tt.hex)
			continue
		}
		rest, fr, ok, err := f.ParseFrame(append(got[1:], 0xEE))
		if err != nil || !ok || fr.Type != tt.typ || !bytes.Equal(fr.Payload, tt.payload) || !bytes.Equal(rest, []byte{0xEE}) || fr.Len != len(tt.hex)/2 {
			t.Errorf("ParseFrame(%s) = %x, %+v, %v, %v", tt.hex, rest, fr, ok, err)
		}
	}
}

func TestAppendFrameErrors(t *testing.T) {
	f := newFraming(">B", nil)
	if _, err := f.AppendFrame(nil, 9, nil); !errors.Is(err, wire.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	var ute *wire.UnknownTypeError
	if _, err := f.AppendFrame(nil, 9, nil); !errors.As(err, &ute) || ute.Type != 9 {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := f.AppendFrame(nil, typeSensor, []byte{1}); !errors.Is(err, wire.ErrLength) {
		t.Errorf("short fixed payload: %v", err)
	}
	if _, err := f.AppendFrame(nil, 5000, []byte{1}); !errors.Is(err, wire.ErrRange) {
		t.Errorf("type 5000 with a 1-byte header: %v", err)
	}
	f.MaxPayload = 4
	dst := []byte("keep")
	got, err := f.AppendFrame(dst, typeStatus, []byte("12345"))
	var tle *wire.TooLargeError
	if !errors.As(err, &tle) || tle.Length != 5 || tle.Max != 4 || string(got) != "keep" {
		t.Errorf("too large: %q, %v", got, err)
	}
	if _, err := f.AppendFrame(nil, typeStatus, []byte("1234")); err != nil {
		t.Errorf("payload at the maximum: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	for _, tc := range []struct {
		header string
		hex    string
	}{{">H", "ffff"}, {">B", "ff"}, {">I", "ffffffff"}, {"<H", "ffff"}} {
		f := newFraming(tc.header, wire.CRC32) // never a checksum on NOT_FOUND
		got := f.AppendNotFound(nil)
		if hex.EncodeToString(got) != tc.hex {
			t.Errorf("%s: AppendNotFound = %x", tc.header, got)
		}
		fr, err := f.ParseExact(got)
		if err != nil || fr.Type != f.NotFound || fr.Payload != nil {
			t.Errorf("%s: ParseExact = %+v, %v", tc.header, fr, err)
		}
	}
	if err := wire.MustParseFormat(">h").CheckUint(65535); !errors.Is(err, wire.ErrRange) {
		t.Errorf(`65535 fits ">h": %v`, err)
	}
}

// TestParseFrameNeedMore checks that every strict prefix of valid frames is
// "need more" (ok false, nil error), never an error.
func TestParseFrameNeedMore(t *testing.T) {
	for _, sum := range []wire.Checksum{nil, wire.CRC32} {
		f := newFraming(">H", sum)
		var stream []byte
		stream, _ = f.AppendFrame(stream, typeSensor, sensorPayload)
		stream, _ = f.AppendFrame(stream, typeStatus, []byte("hello"))
		stream, _ = f.AppendFrame(stream, typeEmpty, nil)
		stream = f.AppendNotFound(stream)
		stream, _ = f.AppendFrame(stream, typeBig, nil)
		var types []uint64
		buf := stream
		for len(buf) > 0 {
			for i := range len(buf) {
				rest, _, ok, err := f.ParseFrame(buf[:i])
				if ok && len(rest) == i {
					t.Fatalf("prefix of %d bytes: ok without consuming", i)
				}
				if err != nil {
					t.Fatalf("prefix of %d bytes: %v", i, err)
				}
				if ok {
					break // a shorter frame (header-only) fits in the prefix
				}
			}
			rest, fr, ok, err := f.ParseFrame(buf)
			if !ok || err != nil {
				t.Fatalf("ParseFrame: %v %v", ok, err)
			}
			types = append(types, fr.Type)
			buf = rest
		}
		want := []uint64{typeSensor, typeStatus, typeEmpty, f.NotFound, typeBig}
		if len(types) != len(want) {
			t.Fatalf("types %v, want %v", types, want)
		}
	}
}

func TestParseFrameMalformed(t *testing.T) {
	f := newFraming(">H", wire.CRC32)
	good, _ := f.AppendFrame(nil, typeStatus, []byte("hello"))
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	f.MaxPayload = 100
	tests := []struct {
		name string
		buf  []byte
		want error
	}{
		{"unknown type", mustHex("0022"), wire.ErrUnknownType},
		{"declared too large", mustHex("000200000065"), wire.ErrTooLarge},
		{"declared 4 GiB", mustHex("0002ffffffff"), wire.ErrTooLarge},
		{"bad checksum", bad, wire.ErrChecksum},
	}
	for _, tt := range tests {
		rest, fr, ok, err := f.ParseFrame(tt.buf)
		if !errors.Is(err, tt.want) || ok || fr.Payload != nil || !bytes.Equal(rest, tt.buf) {
			t.Errorf("%s: %x %+v %v %v; want %v", tt.name, rest, fr, ok, err, tt.want)
		}
	}
}

func TestParseExact(t *testing.T) {
	f := newFraming(">H", nil)
	good, _ := f.AppendFrame(nil, typeSensor, sensorPayload)
	if _, err := f.ParseExact(good[:len(good)-1]); !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := f.ParseExact(append(bytes.Clone(good), 0)); !errors.Is(err, wire.ErrTrailingBytes) {
		t.Errorf("trailing: %v", err)
	}
	if fr, err := f.ParseExact(good); err != nil || !bytes.Equal(fr.Payload, sensorPayload) {
		t.Errorf("exact: %+v %v", fr, err)
	}
}

// stream returns several frames of f back to back, and their types.
func stream(f *wire.Framing) ([]byte, []wire.Frame) {
	var buf []byte
	var frames []wire.Frame
	add := func(typ uint64, p []byte) {
		buf, _ = f.AppendFrame(buf, typ, p)
		frames = append(frames, wire.Frame{Type: typ, Payload: p})
	}
	add(typeSensor, sensorPayload)
	add(typeStatus, bytes.Repeat([]byte("x"), 5000)) // larger than the reader's buffer
	add(typeEmpty, nil)
	buf = f.AppendNotFound(buf)
	frames = append(frames, wire.Frame{Type: f.NotFound})
	add(typeStatus, []byte("hello"))
	add(typeBig, nil)
	return buf, frames
}

func TestFrameReader(t *testing.T) {
	for _, sum := range []wire.Checksum{nil, wire.CRC32} {
		f := newFraming(">H", sum)
		data, want := stream(f)
		readers := map[string]func() io.Reader{
			"whole":   func() io.Reader { return bytes.NewReader(data) },
			"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
			"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
			"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
		}
		for name, r := range readers {
			fr := wire.NewFrameReader(r(), f, 64)
			for i, w := range want {
				got, err := fr.ReadFrame()
				if err != nil || got.Type != w.Type || !bytes.Equal(got.Payload, w.Payload) {
					t.Fatalf("%s: frame %d = type %d, %d bytes, %v", name, i, got.Type, len(got.Payload), err)
				}
			}
			if _, err := fr.ReadFrame(); err != io.EOF {
				t.Fatalf("%s: at the end: %v, want io.EOF", name, err)
			}
			if fr.Buffered() != 0 {
				t.Fatalf("%s: %d bytes buffered at the end", name, fr.Buffered())
			}
		}
	}
}

func TestFrameReaderUnexpectedEOF(t *testing.T) {
	f := newFraming(">H", nil)
	data, _ := stream(f)
	for _, n := range []int{1, 3, 20, 100, len(data) - 1} {
		fr := wire.NewFrameReader(iotest.OneByteReader(bytes.NewReader(data[:n])), f, 0)
		var err error
		for err == nil {
			_, err = fr.ReadFrame()
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("stream cut at %d: %v, want io.ErrUnexpectedEOF", n, err)
		}
		if _, again := fr.ReadFrame(); again != err {
			t.Errorf("error not sticky: %v then %v", err, again)
		}
	}
}

func TestFrameReaderErrors(t *testing.T) {
	f := newFraming(">H", wire.CRC32)
	good, _ := f.AppendFrame(nil, typeSensor, sensorPayload)
	bad := bytes.Clone(good)
	bad[3] ^= 1
	readErr := errors.New("boom")
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"unknown type", bytes.NewReader(mustHex("0009")), wire.ErrUnknownType},
		{"checksum", bytes.NewReader(append(bytes.Clone(good), bad...)), wire.ErrChecksum},
		{"read error", iotest.ErrReader(readErr), readErr},
		{"timeout", iotest.TimeoutReader(bytes.NewReader(good)), iotest.ErrTimeout},
	}
	for _, tt := range tests {
		fr := wire.NewFrameReader(tt.r, f, 0)
		var err error
		for err == nil {
			_, err = fr.ReadFrame()
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// guardReader serves data and fails the test if read past it.
type guardReader struct {
	t    *testing.T
	data []byte
}

func (g *guardReader) Read(p []byte) (int, error) {
	if len(g.data) == 0 {
		g.t.Fatal("read past the declared length: the maximum payload size was not checked first")
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	return n, nil
}

func TestFrameReaderRefusesLargeBeforeAllocating(t *testing.T) {
	f := newFraming(">H", nil) // MaxPayload: the 1 MiB default
	header := mustHex("0002fffffff0")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fr := wire.NewFrameReader(iotest.OneByteReader(&guardReader{t: t, data: header}), f, 0)
	_, err := fr.ReadFrame()
	runtime.ReadMemStats(&after)
	var tle *wire.TooLargeError
	if !errors.As(err, &tle) || tle.Length != 0xfffffff0 || tle.Max != wire.DefaultMaxPayload {
		t.Fatalf("err = %v, want TooLargeError", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<16 {
		t.Errorf("allocated %d bytes before refusing the frame", grew)
	}
	// At the maximum, the frame is read.
	f.MaxPayload = 8
	data, _ := f.AppendFrame(nil, typeStatus, []byte("12345678"))
	if got, err := wire.NewFrameReader(bytes.NewReader(data), f, 0).ReadFrame(); err != nil || string(got.Payload) != "12345678" {
		t.Errorf("payload at the maximum: %q, %v", got.Payload, err)
	}
}

func TestFrameReaderBeforeRead(t *testing.T) {
	f := newFraming(">H", nil)
	data, _ := f.AppendFrame(nil, typeSensor, sensorPayload)
	data = append(data, data...)
	fr := wire.NewFrameReader(iotest.OneByteReader(bytes.NewReader(data)), f, 0)
	var calls, partial int
	fr.BeforeRead = func(p bool) {
		calls++
		if p {
			partial++
		}
	}
	for range 2 {
		if _, err := fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	}
	// One call per byte; the first byte of each frame is awaited idle.
	if calls != len(data) || partial != len(data)-2 {
		t.Errorf("BeforeRead: %d calls, %d partial; want %d, %d", calls, partial, len(data), len(data)-2)
	}
}

// timeoutErr is a read deadline's error: a timeout.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// stallReader serves its chunks, failing with a timeout between them.
type stallReader struct {
	chunks [][]byte
	stall  bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.stall = !s.stall; !s.stall {
		return 0, timeoutErr{}
	}
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	s.chunks = s.chunks[1:]
	return n, nil
}

// A timeout leaves the reader usable; the next ReadFrame continues the
// frame.
func TestFrameReaderTimeoutNotSticky(t *testing.T) {
	f := newFraming(">H", wire.CRC32)
	good, _ := f.AppendFrame(nil, typeSensor, sensorPayload)
	fr := wire.NewFrameReader(&stallReader{chunks: [][]byte{good[:3], good[3:]}}, f, 0)
	timeouts := 0
	for {
		got, err := fr.ReadFrame()
		if err == nil {
			if !bytes.Equal(got.Payload, sensorPayload) {
				t.Fatalf("payload %x, want %x", got.Payload, sensorPayload)
			}
			break
		}
		if _, ok := err.(timeoutErr); !ok || timeouts > 2 {
			t.Fatalf("ReadFrame: %v after %d timeouts", err, timeouts)
		}
		timeouts++
	}
	if timeouts != 1 { // mid-frame, after the first 3 bytes
		t.Errorf("%d timeouts, want 1", timeouts)
	}
	if _, err := fr.ReadFrame(); err != io.EOF && !errors.As(err, new(timeoutErr)) {
		t.Errorf("after the frame: %v", err)
	}
}
