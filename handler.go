package binproto

import (
	"context"
	"sync"
	"sync/atomic"
)

// A Handler answers messages of one type. It runs with a context that is
// cancelled when its connection dies or the server is force-closed, and
// returns the reply to send (NoReply for none, as in the Python package).
//
// A returned error is logged and closes the connection, with
// CloseHandlerError, or CloseMalformed when it is the error of a payload that
// Message.Fields, Decode or a typed handler could not decode: the compatible
// framing cannot carry an error, and a client waiting for a reply that never
// comes would otherwise stall every request pipelined behind it. Answer soft
// failures with a reply type of your own.
//
// m and its payload are valid only until ServeMessage returns.
type Handler interface {
	ServeMessage(ctx context.Context, m *Message) (Outgoing, error)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, m *Message) (Outgoing, error)

// ServeMessage calls f(ctx, m).
func (f HandlerFunc) ServeMessage(ctx context.Context, m *Message) (Outgoing, error) {
	return f(ctx, m)
}

// NotFoundHandler answers every message with the not-found message. A
// server uses it for message types with no handler and no default handler
// (Server.HandleDefault); clients answer nothing they have no handler for.
var NotFoundHandler Handler = HandlerFunc(func(_ context.Context, m *Message) (Outgoing, error) {
	return Outgoing{Type: m.proto.cfg.NotFoundType, ok: true}, nil
})

// handlerSet maps message types to handlers. Registration is copy-on-write,
// so lookups on the hot path take no lock and handlers may be registered
// while serving.
type handlerSet struct {
	m   cowMap[MessageType, Handler]
	def atomic.Pointer[Handler]
}

func (hs *handlerSet) handle(t MessageType, h Handler) {
	if h == nil {
		hs.m.remove(t)
	} else {
		hs.m.set(t, h)
	}
}

func (hs *handlerSet) setDefault(h Handler) { hs.def.Store(&h) }

// lookup returns the handler for t, the default handler, or nil.
func (hs *handlerSet) lookup(t MessageType) (h Handler, explicit bool) {
	if h, ok := hs.m.load(t); ok {
		return h, true
	}
	if d := hs.def.Load(); d != nil {
		return *d, false
	}
	return nil, false
}

// TypedHandlerFunc is the function HandleTyped adapts: msg holds the decoded
// message and is valid only until the function returns.
type TypedHandlerFunc[T any] func(ctx context.Context, c *Conn, msg *T) (Outgoing, error)

// typedHandler decodes into pooled values of T.
type typedHandler[T any] struct {
	codec *Codec[T]
	fn    TypedHandlerFunc[T]
	spare atomic.Pointer[T] // one value kept at hand: the common, sequential case
	pool  sync.Pool
}

// maxKeptDecode bounds the []byte arrays a pooled handler value keeps.
const maxKeptDecode = 1 << 20

// NewTypedHandler returns a Handler that decodes each message into a T with
// codec c and calls fn. Values are pooled, and their []byte fields' arrays
// reused: fn must not keep msg, nor the slices in it.
func NewTypedHandler[T any](c *Codec[T], fn TypedHandlerFunc[T]) Handler {
	return &typedHandler[T]{codec: c, fn: fn, pool: sync.Pool{New: func() any { return new(T) }}}
}

func (h *typedHandler[T]) get() *T {
	if v := h.spare.Swap(nil); v != nil {
		return v
	}
	return h.pool.Get().(*T)
}

func (h *typedHandler[T]) put(v *T) {
	// The []byte arrays of v are kept for the next message to decode into.
	h.codec.Reset(v, maxKeptDecode)
	if !h.spare.CompareAndSwap(nil, v) {
		h.pool.Put(v)
	}
}

func (h *typedHandler[T]) ServeMessage(ctx context.Context, m *Message) (out Outgoing, err error) {
	if err := m.proto.checkCodec(m.Type, h.codec.Structure()); err != nil {
		return NoReply, err
	}
	if m.Conn != nil {
		// The decoded []byte fields copy about the payload: counted
		// against the server's frame-memory budget while fn runs.
		var held int64
		if m.onReader {
			held = m.Conn.e.HoldFrame(len(m.Payload))
		} else {
			held = m.Conn.e.Hold(len(m.Payload))
		}
		defer m.Conn.e.Unhold(held)
	}
	v := h.get() // not returned if fn panics: the garbage collector takes it
	if err = h.codec.DecodePayload(m.Payload, v); err != nil {
		h.put(v)
		return NoReply, malformed(err) // closes with CloseMalformed
	}
	out, err = h.fn(ctx, m.Conn, v)
	if err == nil && out.ok && out.val == any(v) {
		// The reply refers to the pooled value: encode it before it is reused.
		out, err = m.encodeNow(out)
	}
	h.put(v)
	return out, err
}
