package engine

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

// Options configure the connections of one server or client. They are
// shared, and must not change once a connection uses them.
type Options struct {
	Framing     Framing
	BufferSize  int           // initial read buffer
	ReadTimeout time.Duration // bounds reading one whole frame; <= 0: none
	// IdleTimeout closes a connection on which no frame begins for this
	// long while nothing is in flight; <= 0: none (clients).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake; <= 0: none.
	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration // bounds each write; <= 0: none
	MaxQueued        int           // bound of the outbound queue
	NoFastPath       bool          // no coalescing, no pooling, no burst reads
	Logger           *slog.Logger  // never nil
	Counters         *Counters     // never nil
	// Release takes back the reply buffers of handlers run by Go once they
	// are written (or dropped).
	Release func(*[]byte)
	// Budget, if not nil, is shared by the connections of a server: the
	// frame bytes each holds beyond Allowance (read buffers, payload copies
	// of handlers run by Go, replies being written) are taken from it.
	Budget *Budget
	// Allowance is the bytes a connection holds free of the budget: small
	// frames never wait for it.
	Allowance int
}

// Dispatcher gives the frames of one connection their meaning. Its methods
// run on the connection's read goroutine, but Closed, which runs once on
// whichever goroutine finishes the connection.
type Dispatcher interface {
	// Begin runs once, after the TLS handshake and before the first frame
	// is read: a server starts authentication here. An error closes the
	// connection (a *CloseError names the reason).
	Begin(c *Conn) error
	// Dispatch handles one frame, valid until it returns. An error closes
	// the connection.
	Dispatch(c *Conn, fr wire.Frame) error
	// Arrived is told of the n bytes each read of the stream returned, as
	// they arrive, before they make whole frames (for byte rates).
	Arrived(c *Conn, n int)
	// UnknownType is called when reading stopped at a frame of an unknown
	// type, after the replies to the frames before it were written and
	// before the connection closes: a server answers NOT_FOUND here.
	UnknownType(c *Conn)
	// Closed is called once, when the connection has closed and reading
	// from it has ended.
	Closed(c *Conn, reason Reason, err error)
}

// Conn is one connection: see the package documentation.
type Conn struct {
	nc       net.Conn
	opts     *Options
	d        Dispatcher
	w        *conn.Writer
	datagram bool
	dl       deadlines

	ctx    context.Context // cancelled, with the close error, when the connection closes
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once finished

	closeOnce  sync.Once
	reason     Reason // set once, by Close
	finishOnce sync.Once
	group      *Group // the server's connections, or nil

	ordered  ordered      // handlers started by Go
	inFlight atomic.Int32 // handlers of Go and Spawn whose replies are not yet handed to the writer
	streams  atomic.Int32 // tasks of Spawn running
	tasks    chan Task    // Spawn's hand-off to idle workers; made by the reader at the first Spawn

	// RunTask's hand-over of the reading (streams.go). inline holds, in one
	// word so that they change together, the reader's generation (high 32
	// bits: bumped when another goroutine takes the reading over) and the
	// sequence number of the task running on the reader (low 32; 0: none).
	inline   atomic.Uint64
	inlineN  uint32      // tasks run on the reader; the reader's
	watchdog *time.Timer // hands the reading over when a task on the reader runs long; the reader's

	reads     atomic.Uint64 // reads that returned bytes (Keepalive)
	drainOnce sync.Once
	draining  atomic.Bool // Drain was called

	// The read token (direct.go): whoever holds it (sends into it) reads.
	tok    chan struct{}
	bg     atomic.Bool
	bgOnce sync.Once

	// Owned by the reader, the holder of the read token.
	begun   bool // begin has run
	rd      FrameReader
	limited bool  // reads are counted against budget (before authentication)
	budget  int   // bytes that may still be read while limited
	overrun error // the error of a read over budget
	charged int64 // bytes taken from Options.Budget for the frame being read and handled
	credit  int64 // of which not yet used by HoldFrame
}

// NewConn returns the engine of connection nc, whose frames go to d. Its
// context derives from base (which may carry values for the dispatcher). A
// *net.UDPConn, or a connection whose local address is on a datagram
// network, is read and written one datagram per frame.
func NewConn(base context.Context, nc net.Conn, opts *Options, d Dispatcher) *Conn {
	c := &Conn{nc: nc, opts: opts, d: d, done: make(chan struct{}), tok: make(chan struct{}, 1), datagram: IsDatagram(nc)}
	c.ctx, c.cancel = context.WithCancelCause(base)
	c.dl = deadlines{nc: nc, frame: opts.ReadTimeout, idle: opts.IdleTimeout, busy: c.busy, lastActive: time.Now()}
	c.w = conn.NewWriter(nc, conn.WriterOptions{
		Timeout:    opts.WriteTimeout,
		MaxQueued:  opts.MaxQueued,
		NoCoalesce: opts.NoFastPath || c.datagram,
		NoPool:     opts.NoFastPath,
		OnError:    func(err error) { c.Close(ReasonWriteError, err) },
	})
	if !c.datagram {
		var r io.Reader = connReader{c}
		if !opts.NoFastPath {
			r = conn.NewBurstReader(r) // fewer read calls for streams of frames
		}
		c.rd = opts.Framing.NewReader(r, opts.BufferSize, c.reserveFunc())
	}
	return c
}

// IsDatagram reports whether nc sends datagrams: a *net.UDPConn, or a
// connection whose local address is on a datagram network (a packet
// server's peer, a unixgram socket). Frames written to it are not
// coalesced: one frame, one datagram.
func IsDatagram(nc net.Conn) bool {
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

// Context returns a context cancelled when the connection closes; its
// cause is the error the connection closed with.
func (c *Conn) Context() context.Context { return c.ctx }

// Done returns a channel closed once the connection has closed, reading has
// ended and Dispatcher.Closed has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Ended reports whether Done is closed.
func (c *Conn) Ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// NetConn returns the connection the engine runs.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Writer returns the connection's writer, which any goroutine may use.
func (c *Conn) Writer() *conn.Writer { return c.w }

// Datagram reports whether the connection carries one frame per datagram.
func (c *Conn) Datagram() bool { return c.datagram }

// Reason returns why the connection closed ("" while it is open).
func (c *Conn) Reason() Reason {
	if c.ctx.Err() == nil {
		return ""
	}
	return c.reason
}

// Close closes the connection at once, recording why: the first call wins.
// Reading then fails and the read goroutine finishes the connection.
func (c *Conn) Close(r Reason, err error) {
	c.closeOnce.Do(func() {
		c.reason = r
		if err == nil {
			err = fmt.Errorf("binproto: connection closed: %s", r)
		}
		c.cancel(err)
		c.w.Close()
		c.nc.Close()
	})
}

// CloseAfter closes the connection with r and err once d has passed, unless
// stop, which it returns, was called first or cond then reports false.
func (c *Conn) CloseAfter(d time.Duration, r Reason, err error, cond func() bool) (stop func() bool) {
	t := time.AfterFunc(d, func() {
		if cond() {
			c.Close(r, err)
		}
	})
	return t.Stop
}

// Run reads and dispatches frames on the calling goroutine until the
// connection ends, then finishes it.
func (c *Conn) Run() {
	c.bg.Store(true) // the caller reads: Stop leaves the finish to it
	var err error
	if !c.begun {
		c.begun = true
		err = c.begin()
	}
	if err == nil {
		err = c.readFrames()
	}
	if err == errHandedOff {
		<-c.done // another goroutine reads, and finishes the connection (RunTask)
		return
	}
	c.finish(err)
}

// begin runs the TLS handshake, within its own deadline, and the
// dispatcher's Begin.
func (c *Conn) begin() error {
	if tc, ok := c.nc.(*tls.Conn); ok {
		c.dl.handshake(c.opts.HandshakeTimeout)
		err := tc.HandshakeContext(c.ctx)
		c.dl.handshakeDone()
		var ce *CloseError
		if errors.As(err, &ce) {
			return err // a reason of its own (a PROXY header where none may be)
		}
		if err != nil {
			// A handshake that does not finish in time is a read timeout;
			// any other failure is malformed input.
			reason := ReasonMalformed
			if errors.Is(err, os.ErrDeadlineExceeded) {
				reason = ReasonReadTimeout
			}
			return &CloseError{Reason: reason, Err: err}
		}
	}
	return c.d.Begin(c)
}

// readFrames reads and dispatches frames until an error, which it returns:
// errHandedOff when a task run on the reader took so long that another
// goroutine took over the reading (RunTask).
func (c *Conn) readFrames() error {
	gen := c.inline.Load() >> 32
	for {
		fr, err := c.rd.ReadFrame()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && c.rd.Buffered() == 0 && !c.dl.idleExpired() {
				continue // the idle deadline, but the connection was not idle
			}
			return err
		}
		c.dl.frameDone()
		c.opts.Counters.Received(fr.Len)
		if err := c.d.Dispatch(c, fr); err != nil {
			return err
		}
		if c.inline.Load()>>32 != gen {
			return errHandedOff
		}
		if c.charged > 0 {
			c.settleRead()
		}
	}
}

// finish ends the connection once: gracefully (handlers finish, replies
// are written) when the peer closed or the server drains, and at once
// otherwise; then it is counted, the dispatcher told, and Done closed.
func (c *Conn) finish(err error) {
	c.finishOnce.Do(func() {
		buffered := c.rd != nil && c.rd.Buffered() > 0
		if c.limited && errors.Is(err, wire.ErrTooLarge) && c.overrun != nil {
			err = &CloseError{Reason: ReasonAuthLimit, Err: fmt.Errorf("%w: %w", c.overrun, err)}
		}
		reason := classify(err, buffered, c.dl.isDraining())
		switch reason {
		case ReasonShutdown, ReasonPeer:
			c.ordered.wait() // graceful: running handlers finish
		case ReasonUnknownType:
			c.ordered.wait()
			c.d.UnknownType(c) // the peer's last word: NOT_FOUND
		}
		// The replies to the frames read before the end go out first
		// (within the write timeout; at once if the connection was
		// closed): some may have been queued in the background (Reply).
		if c.w.Wait(c.ctx) == nil && (reason == ReasonShutdown || reason == ReasonUnknownType) {
			c.linger()
		}
		c.Close(reason, err)
		if c.rd != nil {
			c.rd.Release()
		}
		if c.charged > 0 {
			c.opts.Budget.release(c.charged)
			c.charged = 0
		}
		c.ordered.wait()
		c.opts.Counters.Closed(c.reason)
		c.d.Closed(c, c.reason, err)
		if c.group != nil {
			c.group.remove(c)
		}
		close(c.done)
	})
}

// Touch tells the engine that a frame was dispatched (reached a handler or
// the authenticator): the idle timeout runs from now. Frames that are not,
// such as a not-found header or a refused message, do not keep an idle
// connection open. Called by the reader.
func (c *Conn) Touch() { c.dl.touch() }

// busy reports whether requests are in flight: handlers started by Go
// whose replies are not yet written, or bytes queued or being written.
func (c *Conn) busy() bool { return c.inFlight.Load() > 0 || !c.w.Idle() }

// LimitReads counts the bytes read from now on against budget, and sets
// the largest payload accepted to maxPayload: a read over the budget, or a
// frame declaring more, closes the connection with ReasonAuthLimit and an
// error wrapping overrun. Called by the read goroutine (from Begin).
func (c *Conn) LimitReads(budget, maxPayload int, overrun error) {
	c.limited, c.budget, c.overrun = true, budget, overrun
	c.rd.SetMaxPayload(maxPayload)
}

// Unlimit ends LimitReads, restoring the largest payload to maxPayload.
// Called by the read goroutine.
func (c *Conn) Unlimit(maxPayload int) {
	c.limited = false
	c.rd.SetMaxPayload(maxPayload)
}

// connReader is the io.Reader under the frame reader: it arms the read
// deadline before each read and counts reads against the budget.
type connReader struct{ c *Conn }

func (r connReader) Read(p []byte) (int, error) { return r.c.readRaw(p, r.c.rd.Buffered() > 0) }

// readRaw reads into p under the deadline of the read about to be made
// (partial: part of a frame is at hand), counting what it reads against the
// budget of LimitReads and telling the dispatcher of it. Called by the
// reader.
func (c *Conn) readRaw(p []byte, partial bool) (int, error) {
	if c.limited {
		if c.budget <= 0 {
			return 0, &CloseError{Reason: ReasonAuthLimit, Err: c.overrun}
		}
		if len(p) > c.budget {
			p = p[:c.budget]
		}
	}
	c.dl.beforeRead(partial)
	n, err := c.nc.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	if c.limited {
		c.budget -= n
	}
	if n > 0 {
		c.d.Arrived(c, n)
	}
	return n, err
}

// TrySend queues frame to be written in the background unless the
// outbound queue has no room for it: then it queues nothing and returns
// false.
func (c *Conn) TrySend(frame []byte) (bool, error) {
	queued, flush, err := c.w.TryQueue(frame, nil)
	if flush {
		go c.w.Flush()
	}
	return queued, err
}

// Drain makes the connection stop reading within drainGrace, finish its
// handlers, write their replies and close (as Group.Shutdown does for
// each of its connections).
func (c *Conn) Drain() {
	c.draining.Store(true) // before Draining: see Draining
	c.drainOnce.Do(func() {
		if d, ok := c.d.(Drainer); ok {
			d.Draining(c)
		}
	})
	c.dl.drain()
}

// Draining reports whether Drain was called. A dispatcher whose state
// for Drainer.Draining is made on the read goroutine publishes it, then
// checks Draining: either it sees Drain, or Drain's call to
// Drainer.Draining sees its state.
func (c *Conn) Draining() bool { return c.draining.Load() }

// Drainer is implemented by a Dispatcher that must act when its
// connection begins to drain (Drain, Group.Shutdown): the native profile
// sends its goaway frame.
type Drainer interface {
	// Draining is called once, on the goroutine that drains, before reading
	// stops.
	Draining(c *Conn)
}

// lingerTime and lingerBytes bound how long a connection closing on its own
// initiative waits for the peer to read what was written and close its
// side, and how much of the peer's input it reads and discards meanwhile
// (a peer pouring garbage is not read for long).
const (
	lingerTime  = 250 * time.Millisecond
	lingerBytes = 64 << 10
)

// linger ends a connection that the local side closes while the peer may
// still be sending (a drain, an unknown type) without losing the replies
// already written: closing a socket with unread input makes TCP reset the
// connection, and a reset can destroy data the peer has not read yet. So
// the write side is shut first (the peer reads the replies, then end of
// stream), and input is read and discarded until the peer closes too or
// lingerTime has passed. Connections that cannot half-close are closed at
// once.
func (c *Conn) linger() {
	hc, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || c.datagram || hc.CloseWrite() != nil {
		return
	}
	c.dl.linger(lingerTime)
	var buf [512]byte
	for discarded := 0; discarded < lingerBytes; {
		n, err := c.nc.Read(buf[:])
		if err != nil {
			return
		}
		discarded += n
	}
}

// Reply writes the reply of a handler run by the reader. While more of the
// peer's frames are at hand (pipelined requests), the reply is queued and
// written in the background, so that the replies to a burst of requests are
// coalesced into few writes while the reader goes on; otherwise, and for a
// reply larger than the allowance (whose memory the caller holds from the
// budget until it is written), it is written at once, straight from frame.
// Called by the reader.
func (c *Conn) Reply(ctx context.Context, frame []byte) error {
	if c.rd != nil && c.rd.Buffered() > 0 && !c.opts.NoFastPath && len(frame) <= max(c.opts.Allowance, 4096) {
		return c.w.Send(ctx, frame)
	}
	return c.w.Write(ctx, frame)
}

// reserveFunc returns the reserve hook of the connection's frame readers:
// nil without a budget.
func (c *Conn) reserveFunc() func(int) error {
	if c.opts.Budget == nil {
		return nil
	}
	return c.reserve
}

// frameReserve is how many times its length (beyond the allowance) a large
// frame takes from the budget: its read buffer, a decoded copy and a reply
// of its size (HoldFrame draws on the last two).
const frameReserve = 3

// reserve takes from the budget what a frame of need bytes will need
// beyond the allowance (frameReserve times as much), before the read
// buffer grows for it: all of it at once, as soon as its declared length
// is known, waiting if need be until the read deadline or the connection's
// end (a wait that times out ends the connection as a slow frame would). A
// connection thus waits for the budget holding none of it, so connections
// cannot wait for each other. A frame within the allowance never waits.
// Called by the frame reader, on the reader.
func (c *Conn) reserve(need int) error {
	beyond := int64(need - c.opts.Allowance)
	want := frameReserve * beyond
	if beyond <= 0 || want <= c.charged {
		return nil
	}
	c.dl.beforeRead(true) // the deadline of the frame begun
	got, err := c.opts.Budget.acquire(want-c.charged, c.dl.readDeadline(), c.ctx.Done())
	if err != nil {
		return err
	}
	c.charged += got
	c.credit = max(0, c.charged-beyond)
	return nil
}

// settleRead gives back what the read buffer no longer holds beyond the
// allowance. Called by the reader after each frame.
func (c *Conn) settleRead() {
	keep := max(0, int64(c.rd.Buffered())-int64(c.opts.Allowance))
	if excess := c.charged - keep; excess > 0 {
		c.opts.Budget.release(excess)
		c.charged = keep
	}
	c.credit = 0
}

// Hold counts n bytes that the connection is about to hold beyond its
// allowance (a payload copy, a decoded value, a reply) against the budget,
// and returns what to give back with Unhold (0 when there is no budget or
// n is small). It never waits: the connection may already hold budget for
// the frame being handled, and waiting while holding could deadlock. The
// budget may go over its bound by such bytes, and large frames then wait
// until it is back under it.
func (c *Conn) Hold(n int) int64 {
	b := c.opts.Budget
	if b == nil || n <= c.opts.Allowance {
		return 0
	}
	return b.force(int64(n))
}

// HoldFrame is Hold for memory the reader holds while it handles the
// frame just read (a decoded copy, a reply): it draws first on what the
// frame reserved. Called by the reader, during Dispatch.
func (c *Conn) HoldFrame(n int) int64 {
	if c.opts.Budget == nil || n <= c.opts.Allowance {
		return 0
	}
	take := min(int64(n), c.credit)
	c.credit -= take
	if rest := int64(n) - take; rest > 0 {
		return c.opts.Budget.force(rest)
	}
	return 0
}

// Unhold gives back what Hold or HoldFrame took.
func (c *Conn) Unhold(n int64) {
	if n > 0 {
		c.opts.Budget.release(n)
	}
}
