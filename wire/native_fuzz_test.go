package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/binproto/binproto/wire"
)

// fuzzNatives are the layouts the native fuzz targets pick from.
var fuzzNatives = []*wire.Native{
	{},
	{Checksum: wire.CRC32},
	{MaxPayload: 64},
}

// seedNative adds the golden vectors and a stream of every kind to the
// corpus of a target taking (layout, bytes).
func seedNative(f *testing.F) {
	for _, v := range loadNativeVectors(f) {
		if v.Frame == nil && v.Error == "" {
			continue
		}
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			f.Fatal(err)
		}
		sel := uint8(0)
		if v.Checksum == "crc32" {
			sel = 1
		}
		f.Add(sel, b)
	}
	for i, n := range fuzzNatives {
		data, _ := nativeStream(f, &wire.Native{Checksum: n.Checksum}) // frames over a small MaxPayload too
		f.Add(uint8(i), data[:min(300, len(data))])
	}
}

// canReappend reports whether the Append functions can produce fr's flags:
// receivers keep the flags a kind does not define, but only message frames
// carry them back out.
func canReappend(fr wire.Frame) bool {
	switch fr.Kind {
	case wire.KindError:
		return fr.Flags&^wire.FlagNotProcessed == 0
	case wire.KindPing:
		return fr.Flags&^wire.FlagAck == 0
	case wire.KindCancel, wire.KindGoAway:
		return fr.Flags == 0
	}
	return true
}

// ParseFrame never panics, tells "need more" from malformed, and a frame it
// accepts re-encodes to the same bytes.
func FuzzNativeParseFrame(f *testing.F) {
	seedNative(f)
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		n := fuzzNatives[int(sel)%len(fuzzNatives)]
		rest, fr, ok, err := n.ParseFrame(data)
		if err != nil || !ok {
			if ok || len(rest) != len(data) {
				t.Fatalf("ParseFrame failed (%v) but consumed bytes", err)
			}
			return
		}
		used := data[:len(data)-len(rest)]
		if fr.Len != len(used) || len(fr.Payload) > n.MaxFrame() {
			t.Fatalf("Len %d for %d bytes", fr.Len, len(used))
		}
		if !canReappend(fr) {
			return
		}
		again, err := appendParsed(n, fr)
		if err != nil || !bytes.Equal(again, used) {
			t.Fatalf("%x parsed as %+v re-encodes as %x, %v", used, fr, again, err)
		}
	})
}

// chunkReader serves data in reads whose sizes come from cuts, in turn.
type chunkReader struct {
	data []byte
	cuts []byte
	i    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	size := len(c.data)
	if len(c.cuts) > 0 {
		size = int(c.cuts[c.i%len(c.cuts)])%32 + 1
		c.i++
	}
	n := copy(p[:min(len(p), size)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// A native reader over a stream split anywhere returns the frames that
// ParseFrame finds in the whole, then the same error, io.ErrUnexpectedEOF
// for a partial frame, or io.EOF.
func FuzzNativeReader(f *testing.F) {
	for i, n := range fuzzNatives {
		data, _ := nativeStream(f, &wire.Native{Checksum: n.Checksum}) // frames over a small MaxPayload too
		f.Add(uint8(i), data, []byte{1, 7, 200})
		f.Add(uint8(i), data[:len(data)-3], []byte{})
	}
	f.Fuzz(func(t *testing.T, sel uint8, data, cuts []byte) {
		n := fuzzNatives[int(sel)%len(fuzzNatives)]
		fr := wire.NewNativeReader(&chunkReader{data: data, cuts: cuts}, n, 16)
		rest := data
		for {
			var want wire.Frame
			var ok bool
			var perr error
			rest, want, ok, perr = n.ParseFrame(rest)
			got, err := fr.ReadFrame()
			switch {
			case ok:
				if err != nil || !sameFrame(got, want) {
					t.Fatalf("ReadFrame = %+v, %v; ParseFrame %+v", got, err, want)
				}
				continue
			case perr != nil:
				if err == nil || err.Error() != perr.Error() {
					t.Fatalf("ReadFrame error %v; ParseFrame %v", err, perr)
				}
			case len(rest) == 0:
				if err != io.EOF {
					t.Fatalf("ReadFrame at the end: %v", err)
				}
			default:
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("ReadFrame on %d bytes of a frame: %v", len(rest), err)
				}
			}
			return
		}
	})
}

// ParsePreface never panics, and a preface it accepts re-encodes to the
// same bytes.
func FuzzParsePreface(f *testing.F) {
	for _, v := range loadNativeVectors(f) {
		if v.Preface != nil || v.Error == "ErrNotNative" || v.Error == "ErrNativeVersion" {
			b, _ := hex.DecodeString(v.Hex)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, n, ok, err := wire.ParsePreface(data)
		if !ok {
			if n != 0 || (err == nil && len(data) >= wire.PrefaceMin+wire.MaxDescription) {
				t.Fatalf("ParsePreface = %d, %v, %v", n, ok, err)
			}
			return
		}
		again, err := wire.AppendPreface(nil, &p)
		if err != nil || !bytes.Equal(again, data[:n]) {
			t.Fatalf("%x parsed as %+v re-encodes as %x, %v", data[:n], p, again, err)
		}
	})
}

// ParseDescription never panics and accepts exactly the canonical text;
// and any description made of the input's bytes marshals to text it
// accepts and reads back unchanged.
func FuzzParseDescription(f *testing.F) {
	f.Add(sampleDescription.Marshal())
	f.Add([]byte("binproto-config 1\nheader >H\nchecksum none\nnotfound 255\ntype 1 a%20b:>B\n"))
	f.Add([]byte("binproto-config 1\nheader \nchecksum \nnotfound 0\ntype 0  \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := wire.ParseDescription(data); err == nil {
			if !bytes.Equal(d.Marshal(), data) {
				t.Fatalf("accepted %q, which marshals as %q", data, d.Marshal())
			}
		} else if !errors.Is(err, wire.ErrFormat) && !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		s := string(data)
		d := wire.Description{Header: s, Checksum: s, NotFound: uint64(len(data)),
			Types: []wire.TypeDescription{{Code: uint64(len(s)) + 1, Fields: []string{s, s + "x"}}, {Code: 0}}}
		back, err := wire.ParseDescription(d.Marshal())
		if len(d.Marshal()) > wire.MaxDescription {
			return
		}
		if err != nil {
			t.Fatalf("description of %q: %v", data, err)
		}
		if d.Diff(back) != nil {
			t.Fatalf("description of %q: %v, diff %q", data, err, d.Diff(back))
		}
	})
}

// RangeMeta never panics, and meta it accepts is the AppendMeta of its
// entries.
func FuzzRangeMeta(f *testing.F) {
	f.Add(wire.AppendMeta(wire.AppendMeta(nil, "traceparent", "00-01-02-01"), "tracestate", "a=b"))
	f.Add([]byte{0x81, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var again []byte
		err := wire.RangeMeta(data, func(k, v []byte) bool {
			again = wire.AppendMeta(again, string(k), string(v))
			return true
		})
		if err != nil {
			if !errors.Is(err, wire.ErrFormat) && !errors.Is(err, wire.ErrTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("%x re-encodes as %x", data, again)
		}
	})
}
