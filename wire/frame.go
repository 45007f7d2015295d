package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// DefaultMaxPayload is the maximum payload size used when a Framing leaves
// MaxPayload at zero: 1 MiB, as in the Python package.
const DefaultMaxPayload = 1 << 20

// LengthSize is the size of the total_len field of variable-length frames:
// always 4 bytes big-endian, whatever the header format.
const LengthSize = 4

// Shape says how the payload of one message type is delimited.
type Shape struct {
	// Variable is true for structures with a variable-length field: their
	// frames carry a 4-byte big-endian payload length after the header.
	Variable bool
	// Size is the payload size of a fixed-length structure (ignored when
	// Variable is true).
	Size int
}

// Shapes maps message types to their shapes. Small type values are looked up
// in a slice, others in a map. Build it with NewShapes; it is read-only after.
type Shapes struct {
	dense  []shapeSlot
	sparse map[uint64]Shape
}

type shapeSlot struct {
	Shape
	ok bool
}

// MaxDenseType bounds the message types that per-type tables (Shapes, and
// the root package's codec checks) index in a slice; larger types go to a
// map.
const MaxDenseType = 4096

// DenseLen returns the length of a slice indexed by the keys of m that are
// below MaxDenseType: one more than the largest such key, or 0.
func DenseLen[K ~uint64, V any](m map[K]V) int {
	n := 0
	for t := range m {
		if uint64(t) < MaxDenseType {
			n = max(n, int(t)+1)
		}
	}
	return n
}

// NewShapes builds a lookup table from m.
func NewShapes(m map[uint64]Shape) *Shapes {
	s := &Shapes{dense: make([]shapeSlot, DenseLen(m))}
	for t, sh := range m {
		if t < uint64(len(s.dense)) {
			s.dense[t] = shapeSlot{sh, true}
			continue
		}
		if s.sparse == nil {
			s.sparse = make(map[uint64]Shape)
		}
		s.sparse[t] = sh
	}
	return s
}

// Lookup returns the shape of type t and whether t is known. A nil *Shapes
// knows no type.
func (s *Shapes) Lookup(t uint64) (Shape, bool) {
	if s == nil {
		return Shape{}, false
	}
	if t < uint64(len(s.dense)) {
		slot := s.dense[t]
		return slot.Shape, slot.ok
	}
	sh, ok := s.sparse[t]
	return sh, ok
}

// Frame is one parsed frame. Payload aliases the buffer it was parsed from.
//
// A frame of the compatible framing has Kind 0 and uses only Type, Payload
// and Len. A native-profile frame (see Native) sets Kind, Flags and ID too;
// for its ERROR and GOAWAY frames Type holds the Code and Payload the
// message, and for a PING Payload holds the 8 opaque bytes.
type Frame struct {
	Type    uint64 // the message type from the header
	Payload []byte // the payload, without length prefix or checksum
	Len     int    // the whole frame's length in bytes, header to checksum

	Kind    Kind          // the native frame kind; 0 for the compatible framing
	Flags   uint8         // the native frame's flags
	ID      uint32        // the native frame's request id
	Timeout time.Duration // REQUEST with FlagDeadline: the caller's remaining time; 0 otherwise
	Meta    []byte        // REQUEST/MESSAGE with FlagMeta: the meta entries; aliases the read buffer
}

// Framing is the frame layout of one configuration:
//
//	| type (Header) | total_len (u32 BE, variable shapes only) | payload | checksum (optional) |
//
// The NotFound type is framed as the header alone, never with a checksum.
// A Framing must not be modified once in use; it is safe for concurrent use.
type Framing struct {
	Header     Format   // message-type header format, e.g. ">H"; integer codes only
	Checksum   Checksum // trailer; nil disables checksums
	MaxPayload int      // largest payload accepted or produced; 0 means DefaultMaxPayload
	NotFound   uint64   // the not-found type value (header only)
	Shapes     *Shapes  // the known message types
}

func (f *Framing) maxPayload() int { return payloadLimit(f.MaxPayload) }

func (f *Framing) checksumSize() int { return checksumSize(f.Checksum) }

// payloadLimit returns the maximum payload size configured as max: max, or
// DefaultMaxPayload if max <= 0.
func payloadLimit(max int) int {
	if max <= 0 {
		return DefaultMaxPayload
	}
	return max
}

// checksumSize returns the trailer size of c, 0 for nil.
func checksumSize(c Checksum) int {
	if c == nil {
		return 0
	}
	return c.Size()
}

// Overhead returns the number of bytes a frame of the given shape adds to
// its payload.
func (f *Framing) Overhead(variable bool) int {
	n := f.Header.Size() + f.checksumSize()
	if variable {
		n += LengthSize
	}
	return n
}

// BeginFrame appends the header for type typ and, for a variable shape, a
// placeholder length that FinishFrame fills in. The caller appends the
// payload after it and then calls FinishFrame with len(dst) as it was before
// BeginFrame. The type must fit the header format.
func (f *Framing) BeginFrame(dst []byte, typ uint64, variable bool) ([]byte, error) {
	if f.Header.CheckUint(typ) != nil {
		return dst, fmt.Errorf("%w: message type %d does not fit header format %q", ErrRange, typ, f.Header)
	}
	n := len(dst)
	hs := f.Header.Size()
	if variable {
		dst = append(dst, make([]byte, hs+LengthSize)...)
	} else {
		dst = append(dst, make([]byte, hs)...)
	}
	f.Header.PutBits(dst[n:], typ)
	return dst, nil
}

// FinishFrame completes the frame that starts at buf[start:]: it checks the
// payload size, fills in the length of a variable shape and appends the
// checksum. On error buf is returned truncated to start.
func (f *Framing) FinishFrame(buf []byte, start int, variable bool) ([]byte, error) {
	payloadAt := start + f.Header.Size()
	if variable {
		payloadAt += LengthSize
	}
	n := len(buf) - payloadAt
	if n > f.maxPayload() {
		return buf[:start], &TooLargeError{Type: f.Header.Bits(buf[start:]), Length: uint64(n), Max: f.maxPayload()}
	}
	if variable {
		binary.BigEndian.PutUint32(buf[payloadAt-LengthSize:], uint32(n))
	}
	if f.Checksum != nil {
		buf = f.Checksum.Append(buf, buf[start:])
	}
	return buf, nil
}

// AppendFrame appends a whole frame carrying payload for type typ, looking
// up its shape. A fixed shape requires len(payload) == Shape.Size.
func (f *Framing) AppendFrame(dst []byte, typ uint64, payload []byte) ([]byte, error) {
	sh, ok := f.Shapes.Lookup(typ)
	if !ok {
		return dst, &UnknownTypeError{Type: typ}
	}
	if !sh.Variable && len(payload) != sh.Size {
		return dst, fmt.Errorf("%w: type %d has a fixed payload of %d bytes, got %d", ErrLength, typ, sh.Size, len(payload))
	}
	start := len(dst)
	dst, err := f.BeginFrame(dst, typ, sh.Variable)
	if err != nil {
		return dst, err
	}
	dst = append(dst, payload...)
	return f.FinishFrame(dst, start, sh.Variable)
}

// AppendNotFound appends the not-found frame: the header alone.
func (f *Framing) AppendNotFound(dst []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, f.Header.Size())...)
	f.Header.PutBits(dst[n:], f.NotFound)
	return dst
}

// frameSize inspects the start of buf and returns the length of the frame it
// begins with and where its payload starts. n == 0 with a nil error means
// that more bytes are needed to tell; need is then how many are needed at
// least.
func (f *Framing) frameSize(buf []byte) (typ uint64, payloadAt, n, need int, err error) {
	hs := f.Header.Size()
	if len(buf) < hs {
		return 0, 0, 0, hs, nil
	}
	typ = f.Header.Bits(buf)
	if typ == f.NotFound {
		return typ, hs, hs, 0, nil
	}
	sh, ok := f.Shapes.Lookup(typ)
	if !ok {
		return typ, 0, 0, 0, &UnknownTypeError{Type: typ}
	}
	size := sh.Size
	payloadAt = hs
	if sh.Variable {
		payloadAt += LengthSize
		if len(buf) < payloadAt {
			return typ, 0, 0, payloadAt, nil
		}
		declared := binary.BigEndian.Uint32(buf[hs:])
		if uint64(declared) > uint64(f.maxPayload()) {
			return typ, 0, 0, 0, &TooLargeError{Type: typ, Length: uint64(declared), Max: f.maxPayload()}
		}
		size = int(declared)
	}
	return typ, payloadAt, payloadAt + size + f.checksumSize(), 0, nil
}

// ParseFrame parses the frame at the start of buf. It returns the rest of
// buf after the frame and ok == true; or ok == false with a nil error when
// buf holds only part of a frame; or a non-nil error when the frame is
// malformed (unknown type, declared length over the maximum, checksum
// mismatch), after which the stream cannot be resynchronised.
// The frame's payload aliases buf.
func (f *Framing) ParseFrame(buf []byte) (rest []byte, fr Frame, ok bool, err error) {
	fr, n, _, err := f.scan(buf)
	if err != nil || n == 0 {
		return buf, Frame{}, false, err
	}
	return buf[n:], fr, true, nil
}

// scan parses the frame at the start of buf. n == 0 with a nil error means
// buf holds only part of it; need is then how many bytes, at least, must be
// buffered to go on: the header's, then the whole frame's.
func (f *Framing) scan(buf []byte) (fr Frame, n, need int, err error) {
	typ, payloadAt, n, need, err := f.frameSize(buf)
	if err != nil || n == 0 {
		return Frame{}, 0, need, err
	}
	if len(buf) < n {
		return Frame{}, 0, n, nil
	}
	if typ == f.NotFound {
		return Frame{Type: typ, Len: n}, n, 0, nil
	}
	end := n - f.checksumSize()
	if err := f.verify(buf[:end], buf[end:n]); err != nil {
		return Frame{}, 0, 0, err
	}
	return Frame{Type: typ, Payload: buf[payloadAt:end:end], Len: n}, n, 0, nil
}

// ParseExact parses buf as exactly one frame (a UDP datagram, say). Missing
// bytes are ErrTruncated and extra bytes ErrTrailingBytes.
func (f *Framing) ParseExact(buf []byte) (Frame, error) {
	return parseExact(f, buf)
}

// layout is a frame layout: the compatible *Framing or the native *Native.
type layout interface {
	// scan parses the frame at the start of buf: see Framing.scan.
	scan(buf []byte) (fr Frame, n, need int, err error)
}

// parseExact parses buf as exactly one frame of layout l.
func parseExact(l layout, buf []byte) (Frame, error) {
	fr, n, _, err := l.scan(buf)
	switch {
	case err != nil:
		return Frame{}, err
	case n == 0:
		return Frame{}, fmt.Errorf("%w: %d bytes do not make a whole frame", ErrTruncated, len(buf))
	case n != len(buf):
		return Frame{}, fmt.Errorf("%w: %d bytes after the frame", ErrTrailingBytes, len(buf)-n)
	}
	return fr, nil
}

func (f *Framing) verify(frame, sum []byte) error {
	return verifyChecksum(f.Checksum, frame, sum)
}

// verifyChecksum checks that sum is the checksum c computes over frame; a
// nil c accepts anything.
func verifyChecksum(c Checksum, frame, sum []byte) error {
	if c == nil {
		return nil
	}
	if c, ok := c.(crc32Checksum); ok {
		// The common case, without the allocation an interface call costs.
		if len(sum) == 4 && binary.BigEndian.Uint32(sum) == crc32.Checksum(frame, c.table) {
			return nil
		}
	}
	var scratch [16]byte
	want := c.Append(scratch[:0], frame)
	if !bytes.Equal(want, sum) {
		return fmt.Errorf("%w: got %x, computed %x", ErrChecksum, sum, want)
	}
	return nil
}
