package binproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/internal/conn"
	"github.com/binproto/binproto/wire"
)

// Conn is one connection, seen from a handler (the server's side of a
// client connection) or inside a Client. Any goroutine may Send on it: this
// is how a server pushes messages. It is safe for concurrent use.
type Conn struct {
	proto *Protocol
	nc    net.Conn
	w     *conn.Writer
	peer  peer
	log   *slog.Logger
	stats *counters

	ctx    context.Context // cancelled when the connection dies
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when reading has ended (see finish)

	// watch, if set, is called by Done and Context: a client in direct
	// mode (client.go) starts its background reader, so that a connection
	// that dies while idle is noticed.
	watch func()

	closeOnce sync.Once
	reason    CloseReason // set once by closeWith

	state    atomic.Int32 // connIdle or connDraining
	inflight *inflight    // concurrent handlers; created by the read loop
	sec      *connSec     // auth and rate-limit state (auth.go); set before the read loop

	idle     time.Duration // Config.IdleTimeout on server connections; clients idle freely
	handlers atomic.Int32  // concurrent handlers whose replies are not yet written

	// Read deadline state shared with other goroutines. Guarded by dlMu,
	// which the read loop takes only when idle > 0 or while draining (see
	// beforeRead); otherwise deadlineSet is the read loop's alone.
	dlMu        sync.Mutex
	deadlineSet bool      // some read deadline is set
	idleWaiting bool      // the read loop awaits a frame with no idle deadline: requests in flight
	drainDL     time.Time // the read deadline set while draining

	// Interrupting a reader whose caller gave up (direct-mode clients, see
	// interruptRead). readStop is set, and read deadlines are moved to
	// the past, by a context.AfterFunc; readGen, guarded by dlMu, tells a
	// late one that the read it was to stop is over.
	readStop atomic.Bool
	readGen  uint64

	// Owned by the reader: the read loop, or on a client the holder of the
	// read token (client.go).
	rd      *wire.FrameReader
	msg     Message
	reply   []byte
	armed   bool      // the whole-frame deadline is set for the current frame
	frameDL time.Time // that deadline
	begun   bool      // begin has run
}

const (
	connIdle     int32 = iota // serving
	connDraining              // server shutting down: finish what is buffered
)

// peer is the side a Conn serves: it decides what a frame means.
type peer interface {
	// dispatch handles one frame; a non-nil error closes the connection
	// with the given reason.
	dispatch(c *Conn, fr wire.Frame) (CloseReason, error)
	// unknownType is called when the read loop stopped at a frame of an
	// unknown type, before the connection closes.
	unknownType(c *Conn)
	// closed is called once, after the read loop has exited.
	closed(c *Conn, err error)
}

func newConn(p *Protocol, nc net.Conn, pr peer, log *slog.Logger, st *counters) *Conn {
	c := &Conn{proto: p, nc: nc, peer: pr, log: log, stats: st, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(context.WithValue(context.Background(), connKey{}, c))
	cfg := &p.cfg
	c.w = conn.NewWriter(nc, conn.WriterOptions{
		Timeout:    cfg.WriteTimeout,
		MaxQueued:  cfg.MaxQueuedBytes,
		NoCoalesce: cfg.DisableFastPath || cfg.Transport == UDP || isDatagram(nc),
		NoPool:     cfg.DisableFastPath,
		OnError:    func(err error) { c.closeWith(CloseWriteError, err) },
		OnIdle:     c.rearmIdle,
	})
	var r io.Reader = nc
	if !cfg.DisableFastPath {
		r = conn.NewBurstReader(nc) // fewer read calls for streams of frames
	}
	c.rd = wire.NewFrameReader(r, &p.framing, cfg.BufferSize)
	c.rd.BeforeRead = c.beforeRead
	return c
}

// isDatagram reports whether nc sends datagrams, whatever the Protocol's
// Transport: a *net.UDPConn, or a connection whose local address is on a
// datagram network (a packet server's peer, a unixgram socket). Frames
// written to it must not be coalesced: one frame, one datagram.
func isDatagram(nc net.Conn) bool {
	if _, ok := nc.(*net.UDPConn); ok {
		return true
	}
	a := nc.LocalAddr()
	if a == nil {
		return false
	}
	switch a.Network() {
	case "udp", "udp4", "udp6", "unixgram":
		return true
	}
	return false
}

// Context returns a context cancelled when the connection closes.
//
// A Client's connection is read only while a request waits for its reply,
// unless it has push handlers or Receive was called (see Client); calling
// Context or Done on it makes it read all the time from then on, so that
// they also report a connection that dies while idle.
func (c *Conn) Context() context.Context {
	if c.watch != nil {
		c.watch()
	}
	return c.ctx
}

// Done returns a channel closed once the connection is closed and reading
// from it has ended (on a Client, see Context).
func (c *Conn) Done() <-chan struct{} {
	if c.watch != nil {
		c.watch()
	}
	return c.done
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// TLSState returns the TLS connection state, and false for a plain
// connection.
func (c *Conn) TLSState() (tls.ConnectionState, bool) {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// Send encodes out and queues it on the connection, waiting while the
// outbound queue is full until ctx is done. It returns once the message is
// queued: it is written in the background, coalesced with other queued
// messages, in the order of the calls. An encoding error fails this call
// only; the connection stays up.
func (c *Conn) Send(ctx context.Context, out Outgoing) error {
	n, err := c.w.SendFunc(ctx, func(dst []byte) ([]byte, error) { return c.proto.AppendFrame(dst, out) })
	if err != nil {
		return err
	}
	c.stats.sent(n)
	return nil
}

// Close closes the connection at once.
func (c *Conn) Close() error {
	c.closeWith(CloseLocal, nil)
	if cl, ok := c.peer.(*Client); ok {
		cl.reap()
	}
	return nil
}

// closeWith records why the connection closes and closes it; the read loop
// then exits and finishes the bookkeeping.
func (c *Conn) closeWith(reason CloseReason, err error) {
	c.closeOnce.Do(func() {
		c.reason = reason
		if err == nil {
			err = fmt.Errorf("binproto: connection closed: %s", reason)
		}
		c.cancel(err)
		c.w.Close()
		c.nc.Close()
	})
}

// readLoop is the connection's one reading goroutine (on a client, the
// background reader, which holds the read token).
func (c *Conn) readLoop() {
	err := c.begin()
	if err == nil {
		err = c.readFrames()
	}
	c.finish(err)
}

// begin runs, once, before the first frame is read: the TLS handshake and,
// on a server, the start of authentication.
func (c *Conn) begin() error {
	if c.begun {
		return nil
	}
	c.begun = true
	err := c.handshake()
	if err == nil {
		err = c.secStart() // authentication begins (auth.go)
	}
	return err
}

// ended reports whether finish has run.
func (c *Conn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// finish runs once, by the reader that met err, which ended reading: the
// connection closes (gracefully when the peer closed or the server
// drains), is counted, the peer fails what it awaited, and done closes.
func (c *Conn) finish(err error) {
	reason := c.classify(err)
	switch reason {
	case CloseShutdown, ClosePeer:
		// Graceful: let in-flight handlers finish and replies flush first.
		c.waitHandlers()
		c.w.Wait(c.ctx)
	case CloseUnknownType:
		// The replies to the frames before it go first, then the peer's
		// last word (a server's NOT_FOUND), then the connection closes.
		c.waitHandlers()
		c.peer.unknownType(c)
		c.w.Wait(c.ctx)
	}
	c.closeWith(reason, err)
	// Counted before peer.closed, which lets Shutdown return.
	c.stats.closed(c.reason)
	c.peer.closed(c, err)
	close(c.done)
}

// readFrames reads and dispatches frames until an error, which it returns.
// While the server drains, short read deadlines end it. A handler that panics
// on this goroutine closes the connection (CloseHandlerPanic); recovering
// here, once, rather than around every handler call keeps the per-frame
// path lean.
func (c *Conn) readFrames() (err error) {
	defer func() {
		if r := recover(); r != nil {
			var reason CloseReason
			_, reason, err = c.panicked(c.msg.Type, r)
			c.closeWith(reason, err)
		}
	}()
	for {
		if err := c.readFrame(); err != nil {
			return err
		}
	}
}

// readFrame reads one frame and dispatches it: the step shared by the read
// loop and a client's direct reader. A dispatch error closes the
// connection and is returned. After a read error (returned as is) that is
// a timeout the frame reader stays usable, and the frame's deadline state
// is kept for the next read.
func (c *Conn) readFrame() error {
	fr, err := c.rd.ReadFrame()
	if err != nil {
		return err
	}
	c.armed = false
	c.stats.received(fr.Len)
	if reason, err := c.peer.dispatch(c, fr); err != nil {
		c.closeWith(reason, err)
		return err
	}
	return nil
}

// handshake completes a TLS handshake within the read timeout.
func (c *Conn) handshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	if t := c.proto.cfg.ReadTimeout; t > 0 {
		tc.SetDeadline(time.Now().Add(t))
		defer tc.SetDeadline(time.Time{})
	}
	if err := tc.HandshakeContext(c.ctx); err != nil {
		// A handshake that does not finish in time is a read timeout,
		// whatever else is buffered; any other failure is malformed input.
		reason := CloseMalformed
		if errors.Is(err, os.ErrDeadlineExceeded) {
			reason = CloseReadTimeout
		}
		return &closeError{reason: reason, err: err}
	}
	return nil
}

// classify names the reason a read loop ended with err.
func (c *Conn) classify(err error) CloseReason {
	if r, ok := c.secClassify(err); ok {
		return r
	}
	var unknown *wire.UnknownTypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return ClosePeer
	case c.state.Load() == connDraining:
		return CloseShutdown
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.rd.Buffered() > 0 {
			return CloseReadTimeout
		}
		return CloseIdleTimeout
	case errors.As(err, &unknown):
		return CloseUnknownType
	case errors.Is(err, wire.ErrTooLarge):
		return CloseTooLarge
	case errors.Is(err, wire.ErrChecksum):
		return CloseChecksum
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ClosePeer
	case errors.Is(err, net.ErrClosed):
		return CloseLocal
	}
	var tlsErr tls.RecordHeaderError
	if errors.As(err, &tlsErr) {
		return CloseMalformed
	}
	return CloseReadError
}

// beforeRead arms the read deadlines: an idle deadline while waiting for a
// frame to begin (none while requests are in flight: handlers running or
// replies being written), a whole-frame deadline once one has, and a short
// one, whatever the frame's state, while the server drains.
//
// Deadlines that other goroutines also set (startDrain; rearmIdle when the
// last request in flight completes) are set under dlMu. A connection with
// neither an idle timeout nor a drain under way takes no lock.
func (c *Conn) beforeRead(partial bool) {
	if c.idle > 0 || c.state.Load() == connDraining {
		c.dlMu.Lock()
		c.armLocked(partial)
		c.dlMu.Unlock()
		return
	}
	c.armRead(partial)
	if c.state.Load() == connDraining {
		// startDrain ran after the check above, perhaps before our
		// deadline was set: the drain deadline wins.
		c.dlMu.Lock()
		c.armLocked(partial)
		c.dlMu.Unlock()
	}
	if c.readStop.Load() {
		// interruptRead ran, perhaps before our deadline was set: its
		// deadline in the past wins.
		c.nc.SetReadDeadline(pastDeadline)
	}
}

// pastDeadline is a read deadline that has expired: it makes a blocked Read
// return at once.
var pastDeadline = time.Unix(1, 0)

// interruptRead makes the reader's current or next Read fail with a timeout:
// a client's direct reader whose caller's context ended runs it (through
// context.AfterFunc) for the read of generation gen. It does nothing once
// that read is over (endInterrupt moved readGen on).
func (c *Conn) interruptRead(gen uint64) {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.readGen != gen {
		return
	}
	c.readStop.Store(true)
	c.nc.SetReadDeadline(pastDeadline)
}

// endInterrupt ends the reads of the current generation: a later
// interruptRead for it does nothing, and if one ran, the read deadline it
// moved is restored (the current frame's whole-frame deadline, or none),
// for the next reader. Called by the reader.
func (c *Conn) endInterrupt() {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.readGen++
	if !c.readStop.Swap(false) {
		return
	}
	if c.armed {
		c.nc.SetReadDeadline(c.frameDL)
		c.deadlineSet = true
		return
	}
	c.nc.SetReadDeadline(time.Time{})
	c.deadlineSet = false
}

// armLocked arms the read deadline with dlMu held.
func (c *Conn) armLocked(partial bool) {
	c.idleWaiting = false
	switch {
	case c.state.Load() == connDraining:
		// Each read gets drainGrace from its start: a peer's bytes that
		// keep arriving (frames sent before the drain) are still read.
		c.drainDL = time.Now().Add(drainGrace)
		c.nc.SetReadDeadline(c.drainDL)
		c.deadlineSet = true
	case !partial && c.idle > 0 && c.busy():
		// Requests in flight: the connection is not idle. rearmIdle arms
		// the idle deadline once they complete.
		if c.deadlineSet {
			c.nc.SetReadDeadline(time.Time{})
			c.deadlineSet = false
		}
		c.idleWaiting = true
	default:
		c.armRead(partial)
	}
}

// armRead arms the idle or whole-frame deadline (the connection is not
// draining).
func (c *Conn) armRead(partial bool) {
	cfg := &c.proto.cfg
	switch {
	case partial:
		if !c.armed && cfg.ReadTimeout > 0 {
			c.frameDL = time.Now().Add(cfg.ReadTimeout)
			c.nc.SetReadDeadline(c.frameDL)
			c.armed, c.deadlineSet = true, true
		}
	case c.idle > 0:
		c.nc.SetReadDeadline(time.Now().Add(c.idle))
		c.deadlineSet = true
	case c.deadlineSet:
		c.nc.SetReadDeadline(time.Time{})
		c.deadlineSet = false
	}
}

// busy reports whether requests are in flight: concurrent handlers running
// or their replies not yet handed to the writer, or bytes queued or being
// written.
func (c *Conn) busy() bool {
	return c.handlers.Load() > 0 || !c.w.Idle()
}

// rearmIdle arms the idle deadline that beforeRead held back while requests
// were in flight, once none is; called when a concurrent handler completes
// and when the writer goes idle. A stale call (the read loop has moved on)
// is harmless: beforeRead sets the deadline again before the next read.
func (c *Conn) rearmIdle() {
	if c.idle <= 0 {
		return
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.idleWaiting && c.state.Load() != connDraining && !c.busy() {
		c.nc.SetReadDeadline(time.Now().Add(c.idle))
		c.deadlineSet = true
		c.idleWaiting = false
	}
}

// drainGrace is how long a draining connection still waits for bytes the
// peer had already sent.
const drainGrace = 20 * time.Millisecond

// startDrain asks the read loop to finish the frames already received and
// then close; it wakes a loop blocked waiting for bytes. The server calls it
// repeatedly until the connection is gone: each call re-applies the drain
// deadline (in case other code reset the read deadline meanwhile) without
// extending it, so a blocked read still ends; only the read loop moves it,
// by drainGrace from the start of each read.
func (c *Conn) startDrain() {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.state.Store(connDraining)
	if c.drainDL.IsZero() {
		c.drainDL = time.Now().Add(drainGrace)
	}
	c.nc.SetReadDeadline(c.drainDL)
}

// serve runs h for m, recovering a panic into an error.
func (c *Conn) serve(ctx context.Context, h Handler, m *Message) (out Outgoing, reason CloseReason, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, reason, err = c.panicked(m.Type, r)
		}
	}()
	return c.call(ctx, h, m)
}

// call runs h for m; a panic is left to the caller to recover (see serve
// and readFrames).
func (c *Conn) call(ctx context.Context, h Handler, m *Message) (Outgoing, CloseReason, error) {
	out, err := h.ServeMessage(ctx, m)
	if err != nil {
		var ce *closeError
		if errors.As(err, &ce) {
			// A malformed payload (see malformed): the peer's fault, not
			// the handler's.
			c.log.Warn("binproto: message not decodable", "type", m.Type, "remote", c.nc.RemoteAddr(), "reason", ce.reason, "err", err)
			return NoReply, ce.reason, err
		}
		c.stats.add(&c.stats.handlerErrors, 1)
		c.log.Warn("binproto: handler error", "type", m.Type, "remote", c.nc.RemoteAddr(), "err", err)
		return NoReply, CloseHandlerError, err
	}
	return out, "", nil
}

// panicked records a handler panic r for a message of type t and returns
// the error the connection closes with.
func (c *Conn) panicked(t MessageType, r any) (Outgoing, CloseReason, error) {
	c.stats.add(&c.stats.handlerPanics, 1)
	c.log.Error("binproto: handler panic", "type", t, "remote", c.nc.RemoteAddr(), "panic", r)
	return NoReply, CloseHandlerPanic, fmt.Errorf("binproto: handler for type %d panicked: %v", t, r)
}

// reply encodes out into buf and writes it.
func (c *Conn) writeReply(buf *[]byte, out Outgoing) (CloseReason, error) {
	if out.Type == c.proto.cfg.NotFoundType {
		c.stats.add(&c.stats.notFound, 1)
	}
	if err := c.proto.appendReply(buf, out); err != nil {
		c.log.Warn("binproto: reply not encodable", "type", out.Type, "err", err)
		c.stats.add(&c.stats.handlerErrors, 1)
		return CloseHandlerError, err
	}
	if err := c.w.Write(c.ctx, *buf); err != nil {
		return CloseWriteError, err
	}
	c.stats.sent(len(*buf))
	return "", nil
}

// handle runs the handler for the frame in the read loop and writes its
// reply; the common dispatch step of servers and clients. A panic is
// recovered by readFrames (handleSafe recovers it itself).
func (c *Conn) handle(h Handler, fr wire.Frame) (CloseReason, error) {
	m := &c.msg
	if m.Conn != c || m.proto != c.proto || m.replyBuf != &c.reply { // set by other code, or first use
		*m = Message{Conn: c, proto: c.proto, replyBuf: &c.reply}
	}
	m.Type, m.Payload = MessageType(fr.Type), fr.Payload
	out, reason, err := c.call(c.ctx, h, m)
	c.msg.Payload = nil
	if err != nil || !out.ok {
		return reason, err
	}
	reason, err = c.writeReply(&c.reply, out)
	if cap(c.reply) > 64<<10 {
		c.reply = nil
	}
	return reason, err
}

// handleSafe is handle with a handler panic recovered into an error, for
// loops that outlive a failed handler (a packet server's).
func (c *Conn) handleSafe(h Handler, fr wire.Frame) (reason CloseReason, err error) {
	defer func() {
		if r := recover(); r != nil {
			_, reason, err = c.panicked(MessageType(fr.Type), r)
		}
	}()
	return c.handle(h, fr)
}

// Buffers for encoding outgoing frames, pooled on the fast path.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// batchPool keeps the large buffers batches grow, so that a stream of
// batches does not regrow one for every call; sync.Pool drops them when
// the garbage collector runs, so an idle program does not keep them.
var batchPool sync.Pool

// maxPooled bounds the buffers either pool keeps.
const (
	maxPooledSmall = 64 << 10
	maxPooledBatch = 16 << 20
)

func getBuffer(p *Protocol) *[]byte {
	if p.cfg.DisableFastPath {
		b := make([]byte, 0, 512)
		return &b
	}
	return bufferPool.Get().(*[]byte)
}

// getBatchBuffer returns a buffer for many frames: a large one kept from an
// earlier batch when there is one.
func getBatchBuffer(p *Protocol) *[]byte {
	if !p.cfg.DisableFastPath {
		if b, ok := batchPool.Get().(*[]byte); ok {
			return b
		}
	}
	return getBuffer(p)
}

func putBuffer(p *Protocol, b *[]byte) {
	if p.cfg.DisableFastPath {
		return
	}
	*b = (*b)[:0]
	switch c := cap(*b); {
	case c <= maxPooledSmall:
		bufferPool.Put(b)
	case c <= maxPooledBatch:
		batchPool.Put(b)
	}
}
