package wire

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// uvarint reads the uvarint at the start of b, which must hold all of it:
// the bytes of a frame's body are all there once the frame is. A uvarint
// that runs past b, overflows 64 bits or is not in its shortest form (so
// that every value has one encoding) is ErrFormat.
func uvarint(b []byte, what string) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, fmt.Errorf("%w: %s runs past the frame", ErrFormat, what)
	case n < 0:
		return 0, 0, fmt.Errorf("%w: %s overflows 64 bits", ErrFormat, what)
	case n > 1 && b[n-1] == 0:
		return 0, 0, fmt.Errorf("%w: %s is not in its shortest form", ErrFormat, what)
	}
	return v, n, nil
}

// head is the parsed start of a REQUEST, REPLY or MESSAGE body.
type head struct {
	typ     uint64
	timeout time.Duration
	meta    []byte
	n       int // the bytes it takes: the payload starts there
}

// parseHead parses the start of the body of a frame of kind (REQUEST,
// REPLY or MESSAGE) with flags.
func parseHead(kind Kind, flags uint8, body []byte) (head, error) {
	var h head
	typ, n, err := uvarint(body, "message type")
	if err != nil {
		return h, err
	}
	h.typ, h.n = typ, n
	if kind == KindRequest && flags&FlagDeadline != 0 {
		us, n, err := uvarint(body[h.n:], "timeout")
		if err != nil {
			return h, err
		}
		if us == 0 || us > uint64(maxTimeoutMicros) {
			return h, fmt.Errorf("%w: timeout of %d µs", ErrFormat, us)
		}
		h.timeout = time.Duration(us) * time.Microsecond
		h.n += n
	}
	if kind != KindReply && flags&FlagMeta != 0 {
		size, n, err := uvarint(body[h.n:], "meta length")
		if err != nil {
			return h, err
		}
		h.n += n
		switch {
		case size == 0:
			return h, fmt.Errorf("%w: FlagMeta with no meta", ErrFormat)
		case size > MaxMeta:
			return h, fmt.Errorf("%w: meta of %d bytes exceeds the maximum of %d", ErrTooLarge, size, MaxMeta)
		case size > uint64(len(body)-h.n):
			return h, fmt.Errorf("%w: meta of %d bytes, %d left in the frame", ErrLength, size, len(body)-h.n)
		}
		h.meta = body[h.n : h.n+int(size) : h.n+int(size)]
		h.n += int(size)
		if err := RangeMeta(h.meta, nil); err != nil {
			return h, err
		}
	}
	return h, nil
}

// frameSize inspects the start of buf and returns the length of the frame
// it begins with, length field to checksum. size == 0 with a nil error
// means more bytes are needed to tell; need is then how many at least. The
// declared length is checked against the limits, and the kind against
// those this version knows, before anything else.
func (n *Native) frameSize(buf []byte) (size, need int, err error) {
	if len(buf) < LengthSize {
		return 0, LengthSize, nil
	}
	length := binary.BigEndian.Uint32(buf)
	if uint64(length) > uint64(n.MaxFrame()) {
		return 0, 0, fmt.Errorf("%w: frame declares %d bytes, the maximum is %d", ErrTooLarge, length, n.MaxFrame())
	}
	if int(length) < n.minLength() {
		return 0, 0, fmt.Errorf("%w: frame declares %d bytes, the minimum is %d", ErrFormat, length, n.minLength())
	}
	if len(buf) == LengthSize {
		// The kind first: an unknown one fails as soon as it is read, as
		// ParseFrame fails it, not once the whole frame has arrived.
		return 0, LengthSize + 1, nil
	}
	if k := Kind(buf[LengthSize]); k == 0 || k > KindGoAway {
		return 0, 0, fmt.Errorf("%w: %d", ErrNativeKind, uint8(k))
	}
	return LengthSize + int(length), 0, nil
}

// scan parses the frame at the start of buf. size == 0 with a nil error
// means buf holds only part of it; need is then how many bytes, at least,
// the frame needs in all.
func (n *Native) scan(buf []byte) (fr Frame, size, need int, err error) {
	size, need, err = n.frameSize(buf)
	if err != nil || size == 0 {
		return Frame{}, 0, need, err
	}
	if len(buf) < size {
		return Frame{}, 0, size, nil
	}
	end := size - n.checksumSize()
	if err := verifyChecksum(n.Checksum, buf[:end], buf[end:size]); err != nil {
		return Frame{}, 0, 0, err
	}
	fr, err = n.decode(buf[:end:end])
	if err != nil {
		return Frame{}, 0, 0, err
	}
	fr.Len = size
	return fr, size, 0, nil
}

// decode parses frame b (without its checksum), whose length and kind
// frameSize checked, per its kind.
func (n *Native) decode(b []byte) (Frame, error) {
	fr := Frame{Kind: Kind(b[4]), Flags: b[5], ID: binary.BigEndian.Uint32(b[6:])}
	body := b[NativeHeaderSize:]
	switch fr.Kind {
	case KindRequest, KindReply, KindMessage:
		if (fr.ID == 0) != (fr.Kind == KindMessage) {
			return Frame{}, fmt.Errorf("%w: %v frame with id %d", ErrFormat, fr.Kind, fr.ID)
		}
		h, err := parseHead(fr.Kind, fr.Flags, body)
		if err != nil {
			return Frame{}, err
		}
		fr.Type, fr.Timeout, fr.Meta, fr.Payload = h.typ, h.timeout, h.meta, body[h.n:]
		if len(fr.Payload) > n.maxPayload() {
			return Frame{}, &TooLargeError{Type: h.typ, Length: uint64(len(fr.Payload)), Max: n.maxPayload()}
		}
	case KindError, KindGoAway:
		if len(body) == 0 {
			return Frame{}, fmt.Errorf("%w: %v frame without a code", ErrFormat, fr.Kind)
		}
		fr.Type, fr.Payload = uint64(body[0]), body[1:]
		if len(fr.Payload) > MaxErrorMessage || !utf8.Valid(fr.Payload) {
			return Frame{}, fmt.Errorf("%w: %v message of %d bytes (at most %d, UTF-8)", ErrFormat, fr.Kind, len(fr.Payload), MaxErrorMessage)
		}
	case KindCancel:
		if fr.ID == 0 || len(body) != 0 {
			return Frame{}, fmt.Errorf("%w: cancel frame with id %d and %d body bytes", ErrFormat, fr.ID, len(body))
		}
	case KindPing:
		if fr.ID != 0 || len(body) != PingSize {
			return Frame{}, fmt.Errorf("%w: ping frame with id %d and %d body bytes", ErrFormat, fr.ID, len(body))
		}
		fr.Payload = body
	}
	return fr, nil
}

// ParseFrame parses the native frame at the start of buf. It returns the
// rest of buf after the frame and ok == true; or ok == false with a nil
// error when buf holds only part of a frame; or a non-nil error when the
// frame is malformed, after which the stream cannot be resynchronised: a
// declared length over MaxFrame (ErrTooLarge, checked before anything
// else) or under the minimum (ErrFormat), an unknown kind (ErrNativeKind),
// a checksum mismatch (ErrChecksum), a payload over MaxPayload (a
// *TooLargeError), or a body that does not follow its kind's layout
// (ErrFormat, ErrLength, ErrTooLarge for meta over MaxMeta). The returned
// Frame aliases buf.
func (n *Native) ParseFrame(buf []byte) (rest []byte, fr Frame, ok bool, err error) {
	fr, size, _, err := n.scan(buf)
	if err != nil || size == 0 {
		return buf, Frame{}, false, err
	}
	return buf[size:], fr, true, nil
}

// ParseExact parses buf as exactly one native frame. Missing bytes are
// ErrTruncated and extra bytes ErrTrailingBytes.
func (n *Native) ParseExact(buf []byte) (Frame, error) {
	return parseExact(n, buf)
}
