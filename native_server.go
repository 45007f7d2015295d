package binproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/wire"
)

// nativeConn is the native profile's state of a server connection.
type nativeConn struct {
	mu        sync.Mutex
	streams   map[uint32]*nativeStream // requests being handled, by id
	lastID    uint32                   // the highest request id accepted
	goingAway bool                     // a goaway was sent: no request is accepted any more
	// Owned by the reader.
	authID  uint32      // the request being authenticated: its reply carries this id
	pings   frameBucket // pings answered
	control frameBucket // the other frames that reach no handler: pongs, goaways, cancels of no request
}

// frameBucket bounds the frames of a kind that a connection may send
// without reaching a handler, which no rate limit sees: a burst, then a
// rate a second; one more closes the connection (CloseRateLimit).
type frameBucket struct {
	tokens float64
	last   time.Time
}

const (
	pingBurst    = 64
	pingRate     = 20.0 // twice what a client pinging every MinKeepalive sends
	controlBurst = 256  // a cancel for each of MaxConcurrentStreams replies that crossed it
	controlRate  = 100.0
)

func (b *frameBucket) allow(now time.Time, burst, rate float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// allowControl charges a frame that reaches no handler (a pong, a goaway,
// a cancel of no request being handled) to the connection's allowance.
func (c *Conn) allowControl(kind wire.Kind) error {
	if c.nat.control.allow(timeNow(), controlBurst, controlRate) {
		return nil
	}
	c.srv.stats.RateLimited.Add(1)
	return engine.Close(CloseRateLimit, fmt.Errorf("%w: %v frames from %v", ErrRateLimited, kind, c.RemoteAddr()))
}

// features the server's preface announces.
const nativeFeatures = wire.FeatureDeadlines | wire.FeatureCancel | wire.FeatureKeepalive | wire.FeatureGoAway | wire.FeatureMeta

// negotiate tells a native client from a compatible one by its first
// bytes and, for a native one, answers its preface (and refuses it, by
// name, if its configuration differs). A client silent for SniffWait is
// compatible: a native one opens with its preface at once, while a
// compatible one may wait for the server to speak (an authenticator's
// challenge, a push). Called by the reader, from Begin.
func (c *Conn) negotiate() error {
	s := c.srv
	if s.Native.Disable || c.datagram {
		c.decided.Store(true)
		return nil
	}
	pre, err := c.e.Sniff(s.Native.sniffWait(), engine.Native{N: &c.proto.native.layout})
	if err != nil || pre == nil {
		c.decided.Store(err == nil)
		return err
	}
	c.native = true
	c.nat = &nativeConn{streams: make(map[uint32]*nativeStream)}
	c.decided.Store(true)
	defer func() {
		if c.e.Draining() { // Shutdown began during the handshake: its goaway
			c.goAway("the server is shutting down")
		}
	}()
	n := &c.proto.native
	answer := wire.Preface{
		Version:     1,
		Role:        wire.RoleServer,
		Features:    nativeFeatures,
		MaxStreams:  uint32(s.Native.maxStreams()),
		Keepalive:   s.Native.Keepalive,
		Fingerprint: n.fingerprint,
	}
	if len(n.text) <= 0xffff {
		answer.Description = n.text
	}
	b, err := wire.AppendPreface(nil, &answer)
	if err != nil {
		return engine.Close(CloseMalformed, err)
	}
	mismatch := pre.Fingerprint != n.fingerprint
	if mismatch {
		b = n.layout.AppendError(b, 0, CodeConfigMismatch, true, "the server's configuration differs from the client's")
	}
	if err := c.e.Writer().Write(c.Context(), b); err != nil {
		return engine.Close(CloseWriteError, err)
	}
	c.stats.Sent(len(b))
	if mismatch {
		err := fmt.Errorf("binproto: native client with another configuration (fingerprint %x)", pre.Fingerprint[:8])
		c.logClose(slog.LevelInfo, "binproto: configuration mismatch", CloseConfigMismatch, "remote", c.RemoteAddr(), "err", err)
		return engine.Close(CloseConfigMismatch, err)
	}
	if d := s.Native.Keepalive; d > 0 {
		c.e.Keepalive(max(d, MinKeepalive), c.sendPing)
	}
	if age := s.Native.MaxConnectionAge; age > 0 {
		jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(age))
		time.AfterFunc(age+jitter, func() { c.ageOut() })
	}
	return nil
}

// sendPing sends a ping, unless the outbound queue is full (the peer is
// then not reading, and the keepalive closes it).
func (c *Conn) sendPing() {
	var a [32]byte
	c.e.TrySend(c.proto.native.layout.AppendPing(a[:0], [8]byte{}, false))
}

// ageOut drains a connection that reached MaxConnectionAge: a goaway, then
// the connection closes once its requests are done, or after the grace.
func (c *Conn) ageOut() {
	if c.e.Ended() {
		return
	}
	c.goAway("the connection reached its maximum age")
	c.drainIfIdle()
	time.AfterFunc(c.srv.Native.grace(), func() {
		c.e.Close(CloseMaxAge, errors.New("binproto: connection past its maximum age and grace"))
	})
}

// goAway sends the goaway frame, once, with the last request id accepted:
// requests after it are refused, not processed.
func (c *Conn) goAway(why string) {
	n := c.nat
	n.mu.Lock()
	if n.goingAway {
		n.mu.Unlock()
		return
	}
	n.goingAway = true
	last := n.lastID
	n.mu.Unlock()
	b := c.proto.native.layout.AppendGoAway(nil, last, CodeUnavailable, why)
	if err := c.e.Writer().Send(c.Context(), b); err == nil {
		c.stats.Sent(len(b))
	}
}

// drainIfIdle drains a connection that sent its goaway once no request is
// left.
func (c *Conn) drainIfIdle() {
	n := c.nat
	n.mu.Lock()
	idle := n.goingAway && len(n.streams) == 0
	n.mu.Unlock()
	if idle {
		c.e.Drain()
	}
}

// Draining implements engine.Drainer: a native connection of a server
// that shuts down says goodbye with a goaway.
func (sc *serverConn) Draining(*engine.Conn) {
	c := (*Conn)(sc)
	if c.decided.Load() && c.native { // else negotiate sends it, seeing the drain
		c.goAway("the server is shutting down")
	}
}

// sendError writes an error frame for request id (0: the connection).
// Called by the reader.
func (c *Conn) sendError(id uint32, e *Error) {
	var a [128]byte
	b := c.proto.native.layout.AppendError(a[:0], id, e.Code, e.NotProcessed, e.Message)
	if err := c.e.Reply(c.Context(), b); err == nil {
		c.stats.Sent(len(b))
	}
}

// dispatchNative handles a frame of the native profile. Called by the
// reader.
func (s *Server) dispatchNative(c *Conn, fr wire.Frame) error {
	switch fr.Kind {
	case wire.KindRequest, wire.KindMessage:
		return s.nativeMessage(c, fr)
	case wire.KindCancel:
		if !c.nat.cancel(fr.ID) {
			return c.allowControl(fr.Kind) // the reply crossed it, or an attack
		}
		return nil
	case wire.KindPing:
		if fr.Flags&wire.FlagAck != 0 {
			return c.allowControl(fr.Kind) // an answer: reading it was the point
		}
		if !c.nat.pings.allow(timeNow(), pingBurst, pingRate) {
			s.stats.RateLimited.Add(1)
			return engine.Close(CloseRateLimit, fmt.Errorf("%w: pings from %v", ErrRateLimited, c.RemoteAddr()))
		}
		c.e.Touch() // a pinging client is not idle
		var a [32]byte
		pong := c.proto.native.layout.AppendPing(a[:0], [8]byte(fr.Payload[:8]), true)
		if err := c.e.Reply(c.Context(), pong); err != nil {
			return engine.Close(CloseWriteError, err)
		}
		c.stats.Sent(len(pong))
		return nil
	case wire.KindGoAway:
		return c.allowControl(fr.Kind) // the client leaves; it sends no more requests
	case wire.KindError:
		// A client answers no request: its error frame can only say that
		// it gives up on the connection.
		return engine.Close(CloseProtocol, fmt.Errorf("binproto: the client sent an error frame: %w", &Error{Code: Code(fr.Type), Message: string(fr.Payload)}))
	}
	return engine.Close(CloseProtocol, fmt.Errorf("binproto: a client sent a native frame of kind %d", fr.Kind))
}

// nativeMessage screens and dispatches a request or one-way message.
func (s *Server) nativeMessage(c *Conn, fr wire.Frame) error {
	n := c.nat
	req := fr.Kind == wire.KindRequest
	if req && fr.ID == 0 {
		return engine.Close(CloseProtocol, errors.New("binproto: a native request with id 0"))
	}
	if c.sec.pendingAuth() {
		n.authID = fr.ID
		err := s.authFrame(c, fr)
		n.authID = 0
		if err != nil && req {
			c.sendError(fr.ID, &Error{Code: CodeUnauthenticated, Message: "authentication failed", NotProcessed: true})
		}
		return err
	}
	t := MessageType(fr.Type)
	refuse := func(e *Error) error {
		if req {
			e.NotProcessed = true
			c.sendError(fr.ID, e)
		}
		c.obs.once(c.Context(), DirectionIn, t, fr.Len, OutcomeOf(e), e)
		return nil
	}
	if !s.allowFrame(c, fr.Len) {
		return refuse(&Error{Code: CodeRateLimited, Message: fmt.Sprintf("message type %d over its rate limit", t)})
	}
	if v := s.sec.validators.lookup(t); v != nil {
		c.msg = Message{Type: t, Payload: fr.Payload, Conn: c, proto: c.proto, native: true}
		verr := validate(v, &c.msg)
		c.msg.Payload = nil
		if verr != nil {
			s.stats.Invalid.Add(1)
			return refuse(&Error{Code: CodeInvalid, Message: unprefixed(verr)})
		}
	}
	if t == s.Protocol.cfg.NotFoundType {
		return nil // a not-found message is never dispatched
	}
	h, _ := s.handlers.lookup(t)
	if h == nil {
		h = NotFoundHandler
	}
	if _, ok := s.Protocol.types[t]; !ok {
		s.stats.NotFound.Add(1)
		return refuse(&Error{Code: CodeNotFound, Message: fmt.Sprintf("unknown message type %d", t)})
	}
	c.e.Touch()
	if !req {
		// One-way messages are handled in order on the reader, as on the
		// compatible profile: a stream of them costs no goroutine, and a
		// request sent after them is handled after them.
		return c.handle(h, fr)
	}
	st := &nativeStream{c: c, h: h, id: fr.ID, n: fr.Len}
	if c.obs != nil && len(fr.Meta) > 0 {
		st.meta = append([]byte(nil), fr.Meta...) // for the observer's Extract, after the frame is gone
	}
	st.msg = Message{Type: t, Conn: c, proto: c.proto, native: true}
	st.ctx.parent = c.Context()
	if fr.Timeout > 0 {
		st.ctx.deadline = timeNow().Add(fr.Timeout)
	}
	n.mu.Lock()
	switch {
	case n.goingAway:
		n.mu.Unlock()
		return refuse(&Error{Code: CodeUnavailable, Message: "the server is going away"})
	case n.streams[fr.ID] != nil:
		n.mu.Unlock()
		c.sendError(fr.ID, &Error{Code: CodeProtocol, Message: "request id in use", NotProcessed: true})
		return engine.Close(CloseProtocol, fmt.Errorf("binproto: request id %d reused while in flight", fr.ID))
	}
	n.streams[fr.ID] = st
	n.lastID = max(n.lastID, fr.ID)
	n.mu.Unlock()
	st.held = c.e.HoldFrame(len(fr.Payload)) // the copy counts against the server's budget
	st.payload = getBuffer(c.proto, len(fr.Payload))
	*st.payload = append((*st.payload)[:0], fr.Payload...)
	if c.e.Streams() == 0 && c.e.Buffered() == 0 && !s.slowType(t) {
		c.e.RunTask(st) // idle, and usually quick: on the reader, with no hand-off
		return nil
	}
	if !c.e.Spawn(s.Native.maxStreams(), st) {
		st.done()
		return refuse(&Error{Code: CodeUnavailable, Message: fmt.Sprintf("more than %d concurrent requests on the connection", s.Native.maxStreams())})
	}
	return nil
}

// inlineMax bounds the typical time of the handlers whose requests run on
// the reader when their connection is idle (engine.Conn.RunTask, which
// hands the reading over to another goroutine when one runs long): a type
// whose handler's moving average exceeds it runs on goroutines of its own,
// and one slow once (a pause of the process) runs on the reader again once
// its average is back under it.
const inlineMax = 200 * time.Microsecond

// handlerTime is the moving average of a message type's handler time, in
// nanoseconds: each new time counts for an eighth.
type handlerTime struct{ avg atomic.Int64 }

func (h *handlerTime) observe(d time.Duration) {
	old := h.avg.Load()
	h.avg.Store(old + (int64(d)-old)/8) // racing updates lose one: an estimate
}

// handlerTime returns the moving average of message type t's handler.
func (s *Server) handlerTime(t MessageType) *handlerTime {
	if h, ok := s.handlerTimes.Load(t); ok {
		return h.(*handlerTime)
	}
	h, _ := s.handlerTimes.LoadOrStore(t, new(handlerTime))
	return h.(*handlerTime)
}

// slowType reports whether the handler of message type t usually takes
// longer than inlineMax.
func (s *Server) slowType(t MessageType) bool {
	return s.handlerTime(t).avg.Load() > int64(inlineMax)
}

// cancel ends the context of request id, if it is still being handled,
// and reports whether it was.
func (n *nativeConn) cancel(id uint32) bool {
	n.mu.Lock()
	st := n.streams[id]
	n.mu.Unlock()
	if st != nil {
		st.ctx.cancel(context.Canceled)
	}
	return st != nil
}

// nativeStream is one request being handled.
type nativeStream struct {
	c       *Conn
	h       Handler
	id      uint32
	n       int    // the request frame's bytes
	meta    []byte // the request's meta, kept for an Observer's Extract
	ctx     stream
	msg     Message
	payload *[]byte
	held    int64
}

// Run implements engine.Task: it runs the handler and encodes its reply
// (or error frame).
func (st *nativeStream) Run() (*[]byte, error) {
	c := st.c
	defer st.done()
	st.msg.Payload = *st.payload
	hint := len(*st.payload) + 64       // replies are often the size of their requests
	scratch := getBuffer(c.proto, hint) // where a typed handler's reply may be encoded early
	st.msg.replyBuf = scratch
	var ctx context.Context = &st.ctx
	var ob msgObs
	if c.obs != nil {
		ctx = c.obs.extract(ctx, func(key string) string { return metaValue(st.meta, key) })
		ctx, ob = c.obs.start(ctx, DirectionIn, st.msg.Type)
	}
	began := time.Now()
	out, herr := c.serveNative(ctx, st.h, &st.msg)
	c.srv.handlerTime(st.msg.Type).observe(time.Since(began))
	st.ctx.end()
	defer putBuffer(c.proto, scratch)
	reply := getBuffer(c.proto, hint)
	b := (*reply)[:0]
	var err error
	switch {
	case herr != nil && herr.Code == CodeCanceled && st.ctx.Err() == context.Canceled && c.Context().Err() == nil:
		b = nil // the caller gave up: nobody waits for an answer
	case herr != nil:
		b = c.proto.native.layout.AppendError(b, st.id, herr.Code, herr.NotProcessed, herr.Message)
	case !out.ok:
		b, err = c.proto.native.layout.AppendFrame(b, &wire.NativeHeader{Kind: wire.KindReply, ID: st.id, Flags: wire.FlagNoReply, Type: uint64(st.msg.Type)}, nil)
	default:
		b, err = c.proto.appendNative(b, &wire.NativeHeader{Kind: wire.KindReply, ID: st.id}, out)
	}
	if err != nil {
		c.stats.HandlerErrors.Add(1)
		c.log.Warn("binproto: reply not encodable", "type", out.Type, "err", err)
		herr = &Error{Code: CodeInternal, Message: "the reply could not be encoded"}
		b = c.proto.native.layout.AppendError(b[:0], st.id, herr.Code, false, herr.Message)
	}
	if ob.ob != nil {
		var oerr error
		if herr != nil {
			oerr = herr
		}
		ob.served(ctx, st.h, st.n, out, len(b), oerr)
	}
	if b == nil {
		putBuffer(c.proto, reply)
		return nil, nil
	}
	*reply = b
	return reply, nil
}

// metaValue returns the value of key in meta entries, or "".
func metaValue(meta []byte, key string) string {
	var v string
	wire.RangeMeta(meta, func(k, val []byte) bool {
		if string(k) == key {
			v = string(val)
			return false
		}
		return true
	})
	return v
}

// done releases what the stream holds and forgets it.
func (st *nativeStream) done() {
	c := st.c
	if st.payload != nil {
		putBuffer(c.proto, st.payload)
		st.payload = nil
	}
	c.e.Unhold(st.held)
	st.held = 0
	n := c.nat
	n.mu.Lock()
	if n.streams[st.id] == st {
		delete(n.streams, st.id)
	}
	idle := n.goingAway && len(n.streams) == 0
	n.mu.Unlock()
	if idle {
		c.e.Drain()
	}
}

// serveNative runs h for a native message, and turns what went wrong into
// the error frame the caller gets; the connection stays open.
func (c *Conn) serveNative(ctx context.Context, h Handler, m *Message) (out Outgoing, e *Error) {
	defer func() {
		if r := recover(); r != nil {
			c.stats.HandlerPanics.Add(1)
			c.log.Error("binproto: handler panic", "type", m.Type, "remote", c.RemoteAddr(), "panic", r)
			out, e = NoReply, &Error{Code: CodeInternal, Message: "the handler panicked"}
		}
	}()
	out, err := h.ServeMessage(ctx, m)
	if err == nil {
		if out.ok && out.Type == c.proto.cfg.NotFoundType {
			c.stats.NotFound.Add(1)
			return NoReply, &Error{Code: CodeNotFound, Message: fmt.Sprintf("no handler for message type %d", m.Type)}
		}
		return out, nil
	}
	var ce *engine.CloseError
	var coded *Error
	switch {
	case errors.As(err, &coded):
		return NoReply, coded
	case errors.As(err, &ce) && ce.Reason == CloseMalformed:
		c.stats.Invalid.Add(1)
		return NoReply, &Error{Code: CodeInvalid, Message: unprefixed(err)}
	case errors.Is(err, ErrInvalidMessage):
		c.stats.Invalid.Add(1)
		return NoReply, &Error{Code: CodeInvalid, Message: unprefixed(err)}
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		return NoReply, &Error{Code: CodeDeadlineExceeded, Message: "the request's deadline passed"}
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return NoReply, &Error{Code: CodeCanceled, Message: "the request was cancelled"}
	}
	c.stats.HandlerErrors.Add(1)
	c.log.Warn("binproto: handler error", "type", m.Type, "remote", c.RemoteAddr(), "err", err)
	return NoReply, &Error{Code: CodeInternal, Message: unprefixed(err)}
}
