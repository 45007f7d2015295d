package binproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/wire"
)

// Conn is one connection, seen from a handler (the server's side of a
// client connection, or a UDP peer of a packet server) or inside a Client.
// Any goroutine may Send on it: this is how a server pushes messages. It is
// safe for concurrent use.
type Conn struct {
	e        *engine.Conn
	proto    *Protocol
	log      *slog.Logger
	stats    *engine.Counters
	srv      *Server      // the server of a server connection, or nil
	datagram bool         // one frame per datagram (a UDP client, or a packet server's peer)
	sec      *connSec     // a server connection's auth and rate-limit state, or nil
	obs      *observation // the server's or client's Observer, or nil (observer.go)
	native   bool         // the connection speaks the native profile; set by the reader before the first frame
	nat      *nativeConn  // a native server connection's state, or nil
	// decided is set once the reader has told the profile (native, nat)
	// apart: other goroutines (Broadcast, Draining) read them only then.
	decided atomic.Bool

	// Owned by the read goroutine: the message handed to sequential
	// handlers and the buffer their replies are encoded into (nil between
	// large replies, which give theirs back to the pool).
	msg       Message
	reply     *[]byte
	replySize int // the size of the last reply, to take the next buffer from the right class
}

// newConn makes the Conn of nc with the engine options o, dispatching to d
// (which wraps the Conn: see serverConn and clientConn).
func newConn(p *Protocol, nc net.Conn, o *engine.Options, d func(*Conn) engine.Dispatcher) *Conn {
	c := &Conn{proto: p, log: o.Logger, stats: o.Counters}
	c.e = engine.NewConn(context.WithValue(context.Background(), connKey{}, c), nc, o, d(c))
	c.datagram = c.e.Datagram()
	return c
}

// engineOptions returns the engine options of p's connections, with the
// given idle and TLS handshake timeouts (zero: none).
func engineOptions(p *Protocol, log *slog.Logger, st *engine.Counters, idle, handshake time.Duration) *engine.Options {
	cfg := &p.cfg
	o := &engine.Options{
		Framing:      engine.Compatible{F: &p.framing},
		BufferSize:   cfg.BufferSize,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		MaxQueued:    cfg.MaxQueuedBytes,
		NoFastPath:   cfg.DisableFastPath,
		Logger:       log,
		Counters:     st,
		Release:      func(b *[]byte) { putBuffer(p, b) },

		IdleTimeout:      idle,
		HandshakeTimeout: handshake,
	}
	return o
}

// Context returns a context cancelled when the connection closes; its
// context.Cause is the error it closed with.
func (c *Conn) Context() context.Context { return c.e.Context() }

// Done returns a channel closed once the connection has closed and reading
// from it has ended (on a Client that reads only while requests wait, see
// Client: when a read finds it closed, or at Close).
func (c *Conn) Done() <-chan struct{} { return c.e.Done() }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.e.NetConn().RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.e.NetConn().LocalAddr() }

// TLSState returns the TLS connection state, and false for a plain
// connection.
func (c *Conn) TLSState() (tls.ConnectionState, bool) {
	if tc, ok := c.e.NetConn().(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// Send encodes out and queues it on the connection, waiting while the
// outbound queue is full until ctx is done. A ctx that is already done
// sends nothing and returns its error.
//
// A nil error means the message was encoded and queued, to be written in
// the background, coalesced with other queued messages, in the order of
// the calls; it does not mean the message was written, let alone read: if
// the connection fails first, it is lost. Flush tells whether everything
// queued so far was written. An encoding error fails this call only; the
// connection stays up.
func (c *Conn) Send(ctx context.Context, out Outgoing) error {
	if err := doneErr(ctx); err != nil {
		return err
	}
	var ob msgObs // the per-message hot path: no call at all without an Observer
	if c.obs != nil {
		ctx, ob = c.obs.start(ctx, DirectionOut, out.Type)
	}
	n, err := c.e.Writer().SendFunc(ctx, func(dst []byte) ([]byte, error) { return c.appendOut(dst, out) })
	ob.sent(ctx, n, err)
	if err != nil {
		return err
	}
	c.stats.Sent(n)
	return nil
}

// Flush waits until everything queued on the connection so far has been
// written to the socket, and returns nil; or returns the error that lost
// some of it (the connection failed or closed first), or ctx's error.
// Written means handed to the operating system, not read by the peer.
func (c *Conn) Flush(ctx context.Context) error { return c.e.Writer().Wait(ctx) }

// Close closes the connection at once.
func (c *Conn) Close() error {
	c.e.Stop(CloseLocal, nil)
	return nil
}

// write writes the whole frames in b (waiting for room in the outbound
// queue until ctx is done) and counts n messages sent.
func (c *Conn) write(ctx context.Context, b []byte, n int) error {
	if err := c.e.Writer().Write(ctx, b); err != nil {
		return err
	}
	c.stats.MsgsOut.Add(uint64(n))
	c.stats.BytesOut.Add(uint64(len(b)))
	return nil
}

// serve runs h for m, recovering a panic into an error.
func (c *Conn) serve(ctx context.Context, h Handler, m *Message) (out Outgoing, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.stats.HandlerPanics.Add(1)
			c.log.Error("binproto: handler panic", "type", m.Type, "remote", c.RemoteAddr(), "panic", r)
			out, err = NoReply, engine.Close(CloseHandlerPanic, fmt.Errorf("binproto: handler for message type %d panicked: %v", m.Type, r))
		}
	}()
	out, err = h.ServeMessage(ctx, m)
	if err == nil {
		return out, nil
	}
	var ce *engine.CloseError
	switch {
	case errors.As(err, &ce):
		// A malformed payload (see malformed): the peer's fault, not
		// the handler's.
		c.logClose(slog.LevelWarn, "binproto: message not decodable", ce.Reason, "type", m.Type, "remote", c.RemoteAddr(), "err", err)
		return NoReply, err
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// The connection closed under the handler, which gave up: not the
		// handler's failure, and the connection is closing anyway.
		return NoReply, engine.Close(c.e.Reason(), err)
	}
	c.stats.HandlerErrors.Add(1)
	c.log.Warn("binproto: handler error", "type", m.Type, "remote", c.RemoteAddr(), "err", err)
	return NoReply, engine.Close(CloseHandlerError, err)
}

// handle runs h for the frame on the read goroutine and writes its reply.
func (c *Conn) handle(h Handler, fr wire.Frame) error {
	if c.reply == nil {
		c.reply = getBuffer(c.proto, c.replySize)
	}
	m := &c.msg
	if m.Conn != c || m.replyBuf != c.reply { // first use, or set by other code
		*m = Message{Conn: c, proto: c.proto, replyBuf: c.reply, native: c.native}
	}
	m.Type, m.Payload, m.onReader = MessageType(fr.Type), fr.Payload, true
	ctx := c.Context()
	var ob msgObs // the per-message hot path: no call at all without an Observer
	if c.obs != nil {
		ctx, ob = c.obs.start(ctx, DirectionIn, m.Type)
	}
	out, err := c.serve(ctx, h, m)
	m.Payload = nil
	n := 0
	if err == nil && out.ok {
		n, err = c.writeReply(out)
	}
	ob.served(ctx, h, fr.Len, out, n, err)
	return err
}

// writeReply encodes out into the connection's reply buffer and writes it,
// returning the size of the reply.
func (c *Conn) writeReply(out Outgoing) (int, error) {
	if err := c.encodeReply(c.reply, out); err != nil {
		return 0, err
	}
	n := len(*c.reply)
	c.replySize = n
	held := c.e.HoldFrame(len(*c.reply)) // a large reply counts against the server's budget
	err := c.e.Reply(c.Context(), *c.reply)
	c.e.Unhold(held)
	if err == nil {
		c.stats.Sent(len(*c.reply))
	}
	if cap(*c.reply) > maxKeptReply {
		putBuffer(c.proto, c.reply)
		c.reply = nil
	}
	return n, engine.Close(CloseWriteError, err)
}

// maxKeptReply bounds the reply buffer a connection keeps between frames.
const maxKeptReply = 64 << 10

// handleConcurrent runs h for a copy of the frame through the engine, up to
// limit handlers of the connection at once, replies in request order.
func (c *Conn) handleConcurrent(h Handler, fr wire.Frame, limit int) error {
	held := c.e.HoldFrame(len(fr.Payload)) // the copy counts against the server's budget
	payload := getBuffer(c.proto, len(fr.Payload))
	*payload = append((*payload)[:0], fr.Payload...)
	t, n := MessageType(fr.Type), fr.Len
	return c.e.Go(limit, func() (*[]byte, error) {
		defer c.e.Unhold(held)
		defer putBuffer(c.proto, payload)
		reply := getBuffer(c.proto, 0)
		m := &Message{Type: t, Payload: *payload, Conn: c, proto: c.proto, replyBuf: reply}
		ctx, ob := c.obs.start(c.Context(), DirectionIn, t)
		out, err := c.serve(ctx, h, m)
		if err == nil && out.ok {
			// Encoded before the payload is recycled: out may refer to it.
			err = c.encodeReply(reply, out)
		}
		ob.served(ctx, h, n, out, len(*reply), err)
		if err != nil || !out.ok {
			putBuffer(c.proto, reply)
			return nil, err
		}
		return reply, nil
	})
}

// encodeReply encodes out into buf, counting a not-found reply; a reply
// that does not encode is the handler's error.
func (c *Conn) encodeReply(buf *[]byte, out Outgoing) error {
	if out.Type == c.proto.cfg.NotFoundType {
		c.stats.NotFound.Add(1)
	}
	var err error
	if c.native { // a reply to a one-way message of the native profile: a push
		*buf, err = c.proto.appendNative((*buf)[:0], &wire.NativeHeader{Kind: wire.KindMessage}, out)
	} else {
		err = c.proto.appendReply(buf, out)
	}
	if err != nil {
		c.log.Warn("binproto: reply not encodable", "type", out.Type, "err", err)
		c.stats.HandlerErrors.Add(1)
		return engine.Close(CloseHandlerError, err)
	}
	return nil
}

// doneErr returns ctx's error if it is done: a check cheaper than ctx.Err
// on the hot path, where the context is usually not done.
func doneErr(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}
