package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is the kind of a native-profile frame. Kind 0 is reserved: a Frame
// with Kind 0 comes from the compatible framing.
type Kind uint8

// The frame kinds of native profile version 1.
const (
	KindRequest Kind = 1 // a call that expects a REPLY or an ERROR with the same id
	KindReply   Kind = 2 // the answer to the REQUEST with the same id
	KindMessage Kind = 3 // a one-way message (client to server) or a push (server to client)
	KindError   Kind = 4 // a failed REQUEST (its id) or a failed connection (id 0)
	KindCancel  Kind = 5 // the caller gave up on the REQUEST with the same id
	KindPing    Kind = 6 // keepalive; with FlagAck, the pong
	KindGoAway  Kind = 7 // drain: id is the last request id the sender accepted
)

var kindNames = [...]string{
	KindRequest: "request",
	KindReply:   "reply",
	KindMessage: "message",
	KindError:   "error",
	KindCancel:  "cancel",
	KindPing:    "ping",
	KindGoAway:  "goaway",
}

// String returns the kind's lower-case name, "compatible" for 0 and
// "kind N" for a kind this version does not define.
func (k Kind) String() string {
	if k == 0 {
		return "compatible"
	}
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// Frame flags. Their meaning depends on the kind; senders leave the bits a
// kind does not define at zero and receivers ignore them.
const (
	FlagDeadline     = 0x01 // REQUEST: the body carries the caller's remaining time
	FlagMeta         = 0x02 // REQUEST, MESSAGE: the body carries meta entries
	FlagNotProcessed = 0x01 // ERROR: the request was not processed (safe to retry)
	FlagAck          = 0x01 // PING: this is the pong
	FlagNoReply      = 0x01 // REPLY: the handler sent no reply (the body has the request type and no payload)
)

// Code is the error code of an ERROR or GOAWAY frame. Codes this version
// does not define are kept as they are.
type Code uint8

// The error codes of native profile version 1.
const (
	CodeNotFound         Code = 1  // no handler for the message type
	CodeInvalid          Code = 2  // the request was malformed or rejected by a validator
	CodeUnauthenticated  Code = 3  // authentication is missing or failed
	CodeRateLimited      Code = 4  // a rate limit was hit
	CodeUnavailable      Code = 5  // the server is draining or overloaded
	CodeDeadlineExceeded Code = 6  // the request's deadline passed
	CodeInternal         Code = 7  // the handler failed
	CodeCanceled         Code = 8  // the caller canceled the request
	CodeConfigMismatch   Code = 9  // the peers' configurations differ
	CodeProtocol         Code = 10 // the peer broke the protocol
	CodeTooLarge         Code = 11 // a frame or payload exceeded a limit
)

var codeNames = [...]string{
	CodeNotFound:         "not found",
	CodeInvalid:          "invalid",
	CodeUnauthenticated:  "unauthenticated",
	CodeRateLimited:      "rate limited",
	CodeUnavailable:      "unavailable",
	CodeDeadlineExceeded: "deadline exceeded",
	CodeInternal:         "internal",
	CodeCanceled:         "canceled",
	CodeConfigMismatch:   "config mismatch",
	CodeProtocol:         "protocol error",
	CodeTooLarge:         "too large",
}

// String returns the code's name, such as "not found", or "code N" for a
// code this version does not define.
func (c Code) String() string {
	if c != 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code %d", uint8(c))
}

// Sizes and limits of the native profile.
const (
	// NativeHeaderSize is the fixed start of every native frame: length
	// (4), kind (1), flags (1) and id (4).
	NativeHeaderSize = 10
	// MaxMeta bounds the meta entries of one frame, in bytes.
	MaxMeta = 4096
	// MaxErrorMessage bounds the message of an ERROR or GOAWAY frame, in
	// bytes.
	MaxErrorMessage = 1024
	// PingSize is the size of a PING frame's opaque body.
	PingSize = 8
)

// maxTimeoutMicros is the largest timeout a frame carries: the longest
// time.Duration, in whole microseconds.
const maxTimeoutMicros = math.MaxInt64 / int64(time.Microsecond)

// maxHead bounds the bytes a REQUEST, REPLY or MESSAGE body spends before
// its payload besides the meta bytes: type and timeout uvarints and the
// meta length (at most MaxMeta, two bytes).
const maxHead = 2*binary.MaxVarintLen64 + 2

// Native is the frame layout of the native profile (see docs/wire-format.md):
//
//	| length u32 BE | kind u8 | flags u8 | id u32 BE | body | checksum (optional) |
//
// length counts the bytes after itself; the checksum covers every byte from
// the length through the body. The zero value works: no checksum and
// DefaultMaxPayload. A Native must not be modified once in use; it is safe
// for concurrent use.
type Native struct {
	Checksum   Checksum // trailer; nil: none
	MaxPayload int      // largest payload accepted or produced; 0 means DefaultMaxPayload
}

// NativeHeader describes the start of a REQUEST, REPLY or MESSAGE frame.
type NativeHeader struct {
	Kind    Kind          // KindRequest, KindReply or KindMessage
	Flags   uint8         // FlagDeadline/FlagMeta are set by Begin from Timeout/Meta
	ID      uint32        // the request id: non-zero for REQUEST and REPLY, 0 for MESSAGE
	Type    uint64        // the message type
	Timeout time.Duration // REQUEST only; > 0: FlagDeadline, encoded in µs rounded up
	Meta    []byte        // REQUEST and MESSAGE only; non-empty: FlagMeta (see AppendMeta)
}

func (n *Native) maxPayload() int { return payloadLimit(n.MaxPayload) }

func (n *Native) checksumSize() int { return checksumSize(n.Checksum) }

// minLength is the smallest length field a frame can carry.
func (n *Native) minLength() int { return NativeHeaderSize - LengthSize + n.checksumSize() }

// MaxFrame returns the largest length field a valid frame can carry: the
// maximum payload, the fixed overhead, MaxMeta and the checksum. A frame
// declaring more is ErrTooLarge before any of it is read.
func (n *Native) MaxFrame() int {
	m := uint64(NativeHeaderSize-LengthSize) + maxHead + MaxMeta + uint64(n.maxPayload()) + uint64(n.checksumSize())
	return int(min(m, math.MaxUint32, uint64(math.MaxInt-LengthSize)))
}

// flags checks h and returns the flags byte of its frame.
func (h *NativeHeader) flags() (uint8, error) {
	flags := h.Flags
	switch h.Kind {
	case KindRequest:
		flags &^= FlagDeadline | FlagMeta
		if h.ID == 0 {
			return 0, fmt.Errorf("%w: a request needs a non-zero id", ErrRange)
		}
	case KindReply:
		if h.ID == 0 {
			return 0, fmt.Errorf("%w: a reply needs a non-zero id", ErrRange)
		}
	case KindMessage:
		flags &^= FlagMeta
		if h.ID != 0 {
			return 0, fmt.Errorf("%w: a message has id 0, not %d", ErrRange, h.ID)
		}
	default:
		return 0, fmt.Errorf("%w: %v frames have no message header", ErrNativeKind, h.Kind)
	}
	switch {
	case h.Timeout < 0:
		return 0, fmt.Errorf("%w: negative timeout %v", ErrRange, h.Timeout)
	case h.Timeout > 0 && h.Kind != KindRequest:
		return 0, fmt.Errorf("%w: only a request carries a timeout", ErrRange)
	case h.Timeout > 0:
		flags |= FlagDeadline
	}
	if len(h.Meta) > 0 {
		if h.Kind == KindReply {
			return 0, fmt.Errorf("%w: a reply carries no meta", ErrRange)
		}
		if err := RangeMeta(h.Meta, nil); err != nil {
			return 0, err
		}
		flags |= FlagMeta
	}
	return flags, nil
}

// timeoutMicros returns d (> 0) in microseconds, rounded up and capped at
// maxTimeoutMicros.
func timeoutMicros(d time.Duration) uint64 {
	us := d / time.Microsecond
	if d%time.Microsecond != 0 && int64(us) < maxTimeoutMicros {
		us++
	}
	return uint64(us)
}

// Begin appends everything of a REQUEST, REPLY or MESSAGE frame before its
// payload, with a placeholder length; start is where the frame begins in
// buf. The caller appends the payload, then calls Finish. On error dst is
// returned unchanged.
func (n *Native) Begin(dst []byte, h *NativeHeader) (buf []byte, start int, err error) {
	flags, err := h.flags()
	if err != nil {
		return dst, len(dst), err
	}
	start = len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(h.Kind), flags)
	dst = binary.BigEndian.AppendUint32(dst, h.ID)
	dst = binary.AppendUvarint(dst, h.Type)
	if h.Timeout > 0 {
		dst = binary.AppendUvarint(dst, timeoutMicros(h.Timeout))
	}
	if len(h.Meta) > 0 {
		dst = binary.AppendUvarint(dst, uint64(len(h.Meta)))
		dst = append(dst, h.Meta...)
	}
	return dst, start, nil
}

// Finish completes the frame Begin started at buf[start:]: it checks the
// payload against the maximum (a *TooLargeError), back-fills the length and
// appends the checksum. On error buf is returned truncated to start.
func (n *Native) Finish(buf []byte, start int) ([]byte, error) {
	if start < 0 || len(buf)-start < NativeHeaderSize {
		return buf, fmt.Errorf("%w: no frame begins at %d", ErrTruncated, start)
	}
	b := buf[start:]
	hd, err := parseHead(Kind(b[4]), b[5], b[NativeHeaderSize:])
	if err != nil {
		return buf[:start], err
	}
	if size := len(b) - NativeHeaderSize - hd.n; size > n.maxPayload() {
		return buf[:start], &TooLargeError{Type: hd.typ, Length: uint64(size), Max: n.maxPayload()}
	}
	return n.seal(buf, start), nil
}

// seal back-fills the length of the frame at buf[start:] and appends its
// checksum.
func (n *Native) seal(buf []byte, start int) []byte {
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-LengthSize+n.checksumSize()))
	if n.Checksum != nil {
		buf = n.Checksum.Append(buf, buf[start:])
	}
	return buf
}

// AppendFrame appends a whole REQUEST, REPLY or MESSAGE frame carrying
// payload: Begin, the payload, Finish.
func (n *Native) AppendFrame(dst []byte, h *NativeHeader, payload []byte) ([]byte, error) {
	buf, start, err := n.Begin(dst, h)
	if err != nil {
		return dst, err
	}
	return n.Finish(append(buf, payload...), start)
}

// appendControl appends a frame of a kind without message header: its
// fixed start, then body and text.
func (n *Native) appendControl(dst []byte, kind Kind, flags uint8, id uint32, body []byte, text string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(kind), flags)
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = append(dst, body...)
	dst = append(dst, text...)
	return n.seal(dst, start)
}

// appendCoded appends an ERROR or GOAWAY frame: code, then msg made valid
// UTF-8 and cut to MaxErrorMessage bytes.
func (n *Native) appendCoded(dst []byte, kind Kind, flags uint8, id uint32, code Code, msg string) []byte {
	return n.appendControl(dst, kind, flags, id, []byte{byte(code)}, clipMessage(msg))
}

// clipMessage returns msg with invalid UTF-8 replaced and cut at a rune
// boundary to at most MaxErrorMessage bytes.
func clipMessage(msg string) string {
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	if len(msg) <= MaxErrorMessage {
		return msg
	}
	i := MaxErrorMessage
	for i > 0 && !utf8.RuneStart(msg[i]) {
		i--
	}
	return msg[:i]
}

// AppendError appends an ERROR frame for request id (0: the connection as a
// whole) with code and msg, cut to MaxErrorMessage bytes at a UTF-8
// boundary. notProcessed sets FlagNotProcessed: the request was not
// processed, so retrying it is safe.
func (n *Native) AppendError(dst []byte, id uint32, code Code, notProcessed bool, msg string) []byte {
	var flags uint8
	if notProcessed {
		flags = FlagNotProcessed
	}
	return n.appendCoded(dst, KindError, flags, id, code, msg)
}

// AppendCancel appends a CANCEL frame for request id.
func (n *Native) AppendCancel(dst []byte, id uint32) []byte {
	return n.appendControl(dst, KindCancel, 0, id, nil, "")
}

// AppendPing appends a PING frame carrying data; ack makes it the pong,
// which echoes the ping's data.
func (n *Native) AppendPing(dst []byte, data [PingSize]byte, ack bool) []byte {
	var flags uint8
	if ack {
		flags = FlagAck
	}
	return n.appendControl(dst, KindPing, flags, 0, data[:], "")
}

// AppendGoAway appends a GOAWAY frame: the sender accepted requests up to
// lastID (0: none) and takes no more; code and msg say why (msg cut to
// MaxErrorMessage bytes).
func (n *Native) AppendGoAway(dst []byte, lastID uint32, code Code, msg string) []byte {
	return n.appendCoded(dst, KindGoAway, 0, lastID, code, msg)
}
