package binproto

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/wire"
)

// Message is a message received from a peer: by a handler, as the reply to
// a request, or from Client.Receive.
type Message struct {
	// Type is the message type from the frame header.
	Type MessageType
	// Payload is the raw payload. In a handler it aliases the connection's
	// read buffer and is valid only until the handler returns; messages
	// returned by a Client own their payload.
	Payload []byte
	// Conn is the connection the message came from (nil for messages a
	// Client returns).
	Conn *Conn

	proto    *Protocol
	replyBuf *[]byte // where a reply is encoded; owned by the dispatcher
	onReader bool    // handled on its connection's read goroutine (budget: HoldFrame)
	native   bool    // came in a native frame: encodeNow encodes the payload alone
}

// IsNotFound reports whether m is the not-found message.
func (m *Message) IsNotFound() bool { return m.Type == m.proto.cfg.NotFoundType }

// Fields decodes the payload with the type's configured structure. A
// payload that does not decode is malformed: a handler that returns the
// error closes its connection with CloseMalformed (not counted in
// Stats.HandlerErrors).
func (m *Message) Fields() (map[string]any, error) {
	s := m.proto.types[m.Type]
	if s == nil {
		return nil, &wire.UnknownTypeError{Type: uint64(m.Type)}
	}
	f, err := s.DecodePayload(m.Payload)
	if err != nil {
		return nil, malformed(err)
	}
	return f, nil
}

// Decode decodes m's payload into v with codec c, checking that c matches
// the structure configured for m's type. Strings and byte slices are copied.
// As with Fields, a decoding error returned by a handler closes the
// connection with CloseMalformed.
func Decode[T any](m *Message, c *Codec[T], v *T) error {
	if err := m.proto.checkCodec(m.Type, c.Structure()); err != nil {
		return err
	}
	if err := c.DecodePayload(m.Payload, v); err != nil {
		return malformed(err)
	}
	return nil
}

// malformed marks err, a payload's decoding error, so that a handler
// returning it closes the connection with CloseMalformed (see Conn.serve).
// The error's text and chain are err's.
func malformed(err error) error { return engine.Close(CloseMalformed, err) }

// Outgoing is a message ready to be framed and sent: build one with Msg
// (field map) or Typed (tagged struct). The zero Outgoing is "no message":
// a handler returns it to send no reply.
type Outgoing struct {
	Type MessageType
	enc  payloadEncoder // nil: the type's configured structure, val a map
	val  any
	ok   bool
}

// NoReply is the zero Outgoing: returned by a handler, it sends nothing.
var NoReply Outgoing

// Msg returns an outgoing message of type t whose fields are encoded with
// the structure configured for t.
func Msg(t MessageType, fields map[string]any) Outgoing {
	return Outgoing{Type: t, val: fields, ok: true}
}

// Typed returns an outgoing message of type t encoded from v by codec c. v
// is read when the message is encoded, before the call that takes the
// Outgoing returns. Building it does not allocate.
func Typed[T any](t MessageType, c *Codec[T], v *T) Outgoing {
	return Outgoing{Type: t, enc: typedEncoder[T]{c}, val: v, ok: true}
}

// IsZero reports whether o is the zero Outgoing (no message).
func (o Outgoing) IsZero() bool { return !o.ok }

// payloadEncoder appends the payload of val; implementations are
// pointer-shaped so storing them in an interface does not allocate.
type payloadEncoder interface {
	appendPayload(dst []byte, val any) ([]byte, error)
	structure() *Structure
}

type typedEncoder[T any] struct{ c *Codec[T] }

func (e typedEncoder[T]) appendPayload(dst []byte, val any) ([]byte, error) {
	return e.c.AppendPayload(dst, val.(*T))
}

func (e typedEncoder[T]) structure() *Structure { return e.c.Structure() }

// AppendFrame appends the whole frame of o to dst. On error dst is returned
// unchanged.
func (p *Protocol) AppendFrame(dst []byte, o Outgoing) ([]byte, error) {
	if !o.ok {
		return dst, fmt.Errorf("binproto: AppendFrame of the zero Outgoing")
	}
	if pb, ok := o.val.(*[]byte); ok {
		if _, ok := o.enc.(preEncoded); ok { // a reply that encodeNow encoded
			return append(dst, *pb...), nil
		}
	}
	if o.Type == p.cfg.NotFoundType {
		return p.framing.AppendNotFound(dst), nil
	}
	sh, ok := p.framing.Shapes.Lookup(uint64(o.Type))
	if !ok {
		return dst, &wire.UnknownTypeError{Type: uint64(o.Type)}
	}
	start := len(dst)
	dst = p.appendHeader(dst, o.Type, sh.Variable)
	dst, err := p.appendPayload(dst, o)
	if err != nil {
		return dst[:start], err
	}
	return p.framing.FinishFrame(dst, start, sh.Variable)
}

// appendHeader appends the header of a frame of the configured type t and,
// for a variable shape, room for the length that FinishFrame fills in: what
// wire.Framing.BeginFrame does, less its check that t fits the header
// format, which NewProtocol made once for every configured type.
func (p *Protocol) appendHeader(dst []byte, t MessageType, variable bool) []byte {
	n, hs := len(dst), p.framing.Header.Size()
	size := hs
	if variable {
		size += wire.LengthSize
	}
	dst = slices.Grow(dst, size)[:n+size]
	p.framing.Header.PutBits(dst[n:], uint64(t))
	return dst
}

// AppendMessage appends the frame of a message of type t with the given
// fields; a shorthand for AppendFrame(dst, Msg(t, fields)).
func (p *Protocol) AppendMessage(dst []byte, t MessageType, fields map[string]any) ([]byte, error) {
	return p.AppendFrame(dst, Msg(t, fields))
}

// ParseFrame parses buf as exactly one frame and returns its message; the
// payload aliases buf. Use Message.Fields or Decode to read its fields.
func (p *Protocol) ParseFrame(buf []byte) (*Message, error) {
	fr, err := p.framing.ParseExact(buf)
	if err != nil {
		return nil, err
	}
	return &Message{Type: MessageType(fr.Type), Payload: fr.Payload, proto: p}, nil
}

// checkCodec reports ErrStructureMismatch when s does not have the shape of
// the structure configured for t. It runs for every typed encode and
// decode, so the verdict for a structure other than the configured one is
// computed once and remembered.
func (p *Protocol) checkCodec(t MessageType, s *Structure) error {
	if t < MessageType(len(p.dense)) {
		slot := &p.dense[t]
		if s != nil && (slot.s == s || slot.ok.Load() == s) {
			return nil
		}
	}
	cs := p.types[t]
	if cs == s {
		return nil
	}
	key := codecKey{t, s}
	if err, ok := p.codecs.load(key); ok {
		return err
	}
	var err error
	switch {
	case cs == nil:
		err = &wire.UnknownTypeError{Type: uint64(t)}
	case !cs.SameLayout(s):
		err = fmt.Errorf("%w: message type %d", ErrStructureMismatch, t)
	}
	p.rememberCodec(key, err)
	if err == nil && t < MessageType(len(p.dense)) {
		p.dense[t].ok.Store(s)
	}
	return err
}

// typeSlot is the fast path of checkCodec for one small message type: its
// configured structure and the last other structure found to match it.
type typeSlot struct {
	s  *Structure
	ok atomic.Pointer[Structure]
}

// codecKey identifies a structure used with a message type.
type codecKey struct {
	t MessageType
	s *Structure
}

// maxCodecChecks bounds the verdicts a Protocol remembers.
const maxCodecChecks = 1024

// rememberCodec records checkCodec's verdict for key (copy on write: the
// lookups take no lock).
func (p *Protocol) rememberCodec(key codecKey, err error) {
	p.codecs.update(func(m map[codecKey]error) bool {
		if len(m) >= maxCodecChecks {
			return false
		}
		m[key] = err
		return true
	})
}

// preEncoded marks an Outgoing whose frame is already in a reply buffer;
// val is that *[]byte.
type preEncoded struct{}

func (preEncoded) appendPayload(dst []byte, _ any) ([]byte, error) { return dst, nil }
func (preEncoded) structure() *Structure                           { return nil }

// encodeNow encodes out into m's reply buffer at once, for replies that
// refer to values about to be reused. A message the dispatcher did not make
// (from Protocol.ParseFrame, or built by a test) gets a buffer of its own.
func (m *Message) encodeNow(out Outgoing) (Outgoing, error) {
	if m.replyBuf == nil {
		m.replyBuf = new([]byte)
	}
	if m.native {
		buf, err := m.proto.appendPayload((*m.replyBuf)[:0], out)
		*m.replyBuf = buf
		if err != nil {
			return NoReply, err
		}
		return Outgoing{Type: out.Type, enc: prePayload{}, val: m.replyBuf, ok: true}, nil
	}
	buf, err := m.proto.AppendFrame((*m.replyBuf)[:0], out)
	*m.replyBuf = buf
	if err != nil {
		return NoReply, err
	}
	return Outgoing{Type: out.Type, enc: preEncoded{}, val: m.replyBuf, ok: true}, nil
}

// appendReply appends the frame of out to *buf, reusing a frame that
// encodeNow already put there.
func (p *Protocol) appendReply(buf *[]byte, out Outgoing) error {
	if _, ok := out.enc.(preEncoded); ok {
		if pb := out.val.(*[]byte); pb != buf { // encoded into another buffer
			*buf = append((*buf)[:0], *pb...)
		}
		return nil
	}
	b, err := p.AppendFrame((*buf)[:0], out)
	*buf = b
	return err
}
