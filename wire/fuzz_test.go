package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"testing"
	"testing/iotest"

	"github.com/binproto/binproto/wire"
)

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{">b", "<B", "?", "!h", "=H", "@i", "I", "l", "@L", ">q", "<Q", ">e", "f", "!d", "", ">", "x", ">>", "s"} {
		f.Add(s, uint64(0x0123456789abcdef))
	}
	f.Fuzz(func(t *testing.T, s string, v uint64) {
		format, err := wire.ParseFormat(s)
		if err != nil {
			if !errors.Is(err, wire.ErrFormat) || format.Valid() {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		size := format.Size()
		if !format.Valid() || format.String() != s || (size != 1 && size != 2 && size != 4 && size != 8) {
			t.Fatalf("%q: size %d", s, size)
		}
		b := make([]byte, size+1)
		format.PutBits(b, v)
		if b[size] != 0 {
			t.Fatalf("%q: PutBits wrote past Size", s)
		}
		mask := uint64(math.MaxUint64) >> (64 - 8*uint(size))
		if got := format.Bits(b); got != v&mask {
			t.Fatalf("%q: Bits(PutBits(%#x)) = %#x", s, v, got)
		}
		switch format.Class() {
		case wire.ClassInt, wire.ClassUint:
			// CheckInt agrees with MinInt and MaxUint.
			i := int64(v)
			fits := i >= format.MinInt() && (i < 0 || uint64(i) <= format.MaxUint())
			if err := format.CheckInt(i); (err == nil) != fits {
				t.Fatalf("%q: CheckInt(%d) = %v", s, i, err)
			}
			if err := format.CheckUint(v); (err == nil) != (v <= format.MaxUint()) {
				t.Fatalf("%q: CheckUint(%d) = %v", s, v, err)
			}
			if fits {
				out, err := format.AppendInt(nil, i)
				if err != nil || format.Int(out) != i {
					t.Fatalf("%q: AppendInt(%d) = %x, %v", s, i, out, err)
				}
			}
		case wire.ClassFloat:
			// Decoding any bits and encoding the value again is stable.
			x := format.Float(b)
			bits, err := format.FloatBits(x)
			if err != nil {
				t.Fatalf("%q: FloatBits(Float(%#x)) = %v", s, v&mask, err)
			}
			format.PutBits(b, bits)
			if y := format.Float(b); y != x && !(math.IsNaN(x) && math.IsNaN(y)) {
				t.Fatalf("%q: %v re-encoded as %v", s, x, y)
			}
		}
	})
}

func FuzzFloat16(f *testing.F) {
	for _, x := range []float64{0, 0.1, 65504, 65519.99, 65520, 5.960464477539063e-08, 2.9802322387695312e-08, 1e-8, -2.5} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) { checkHalf(t, x) })
}

// fuzzFramings are the framings FuzzParseFrame and FuzzFrameReader use.
var fuzzFramings = []*wire.Framing{
	newFraming(">H", nil),
	newFraming(">H", wire.CRC32),
	newFraming(">B", nil),
	newFraming("<I", wire.CRC32),
	func() *wire.Framing { f := newFraming(">H", nil); f.MaxPayload = 64; return f }(),
}

func seedFrames(f *testing.F) {
	for i, fr := range fuzzFramings {
		data, _ := stream(fr)
		f.Add(uint8(i), data[:min(200, len(data))])
		f.Add(uint8(i), data[max(0, len(data)-40):])
		one, _ := fr.AppendFrame(nil, typeSensor, sensorPayload)
		f.Add(uint8(i), one)
		f.Add(uint8(i), one[:len(one)-1])
		f.Add(uint8(i), fr.AppendNotFound(nil))
	}
	for _, h := range []string{"0002ffffffff", "0002000000ff"} {
		b, _ := hex.DecodeString(h)
		f.Add(uint8(0), b)
	}
	// The frames of the golden vectors, under the framing with the same
	// header format and checksum when there is one.
	for _, v := range goldenFrames(f) {
		sel := 0
		for i, fr := range fuzzFramings {
			if fr.Header.String() == v.header && (fr.Checksum != nil) == v.crc && fr.MaxPayload == 0 {
				sel = i
			}
		}
		f.Add(uint8(sel), v.frame)
	}
}

type goldenFrame struct {
	header string
	crc    bool
	frame  []byte
}

// goldenFrames reads the frames of ../testdata/golden_vectors.jsonl.
func goldenFrames(tb testing.TB) []goldenFrame {
	data, err := os.ReadFile("../testdata/golden_vectors.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	var out []goldenFrame
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var v struct {
			Config struct {
				HeaderFormat string  `json:"header_format"`
				Checksum     *string `json:"checksum"`
			} `json:"config"`
			Hex *string `json:"hex"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			tb.Fatal(err)
		}
		if v.Hex == nil {
			continue
		}
		b, err := hex.DecodeString(*v.Hex)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, goldenFrame{v.Config.HeaderFormat, v.Config.Checksum != nil, b})
	}
	if len(out) < 100 {
		tb.Fatalf("only %d golden frames", len(out))
	}
	return out
}

func FuzzParseFrame(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, sel uint8, buf []byte) {
		fr := fuzzFramings[int(sel)%len(fuzzFramings)]
		rest, frame, ok, err := fr.ParseFrame(buf)
		switch {
		case err != nil:
			if ok || !bytes.Equal(rest, buf) {
				t.Fatalf("error %v with ok %v", err, ok)
			}
			// More bytes do not make a malformed frame valid.
			if _, _, ok2, err2 := fr.ParseFrame(append(bytes.Clone(buf), make([]byte, 64)...)); ok2 || err2 == nil {
				t.Fatalf("error %v disappears with more bytes", err)
			}
		case !ok:
			if !bytes.Equal(rest, buf) {
				t.Fatal("need more, but rest differs")
			}
		default:
			n := len(buf) - len(rest)
			if n <= 0 || frame.Len != n || !bytes.Equal(rest, buf[n:]) {
				t.Fatalf("frame of %d bytes, Len %d", n, frame.Len)
			}
			// The frame is re-encoded byte for byte.
			var again []byte
			if frame.Type == fr.NotFound {
				again = fr.AppendNotFound(nil)
			} else {
				again, err = fr.AppendFrame(nil, frame.Type, frame.Payload)
				if err != nil {
					t.Fatalf("re-encoding: %v", err)
				}
			}
			if !bytes.Equal(again, buf[:n]) {
				t.Fatalf("re-encoded %x, parsed %x", again, buf[:n])
			}
			// Any strict prefix needs more bytes.
			if _, _, ok, err := fr.ParseFrame(buf[:n-1]); ok || err != nil {
				t.Fatalf("prefix of %d bytes: ok %v err %v", n-1, ok, err)
			}
		}
	})
}

// FuzzFrameReader checks that a FrameReader over a one-byte reader yields
// what repeated ParseFrame calls yield.
func FuzzFrameReader(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, sel uint8, buf []byte) {
		fr := fuzzFramings[int(sel)%len(fuzzFramings)]
		r := wire.NewFrameReader(iotest.OneByteReader(bytes.NewReader(buf)), fr, 16)
		rest := buf
		for {
			next, want, ok, perr := fr.ParseFrame(rest)
			got, err := r.ReadFrame()
			switch {
			case perr != nil:
				if err == nil || !sameSentinel(err, perr) {
					t.Fatalf("reader %v, ParseFrame %v", err, perr)
				}
				return
			case !ok:
				wantErr := io.ErrUnexpectedEOF
				if len(rest) == 0 {
					wantErr = io.EOF
				}
				if !errors.Is(err, wantErr) {
					t.Fatalf("at the end (%d bytes left): %v, want %v", len(rest), err, wantErr)
				}
				return
			case err != nil || got.Type != want.Type || !bytes.Equal(got.Payload, want.Payload) || got.Len != want.Len:
				t.Fatalf("reader %+v %v, ParseFrame %+v", got, err, want)
			}
			rest = next
		}
	})
}

func sameSentinel(a, b error) bool {
	for _, s := range []error{wire.ErrUnknownType, wire.ErrTooLarge, wire.ErrChecksum} {
		if errors.Is(a, s) && errors.Is(b, s) {
			return true
		}
	}
	return false
}
