package binproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/binproto/binproto/wire"
)

// ClientOptions configures Dial and NewClient. The zero value is valid.
type ClientOptions struct {
	// TLSConfig, when set, makes Dial speak TLS (TCP only). A MinVersion
	// below TLS 1.2 is raised to it; an empty ServerName is taken from the
	// address.
	TLSConfig *tls.Config
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// Handlers handle messages the server pushes. A message whose type has
	// a handler here is always a push; any other message answers the oldest
	// pending request, or, when none is pending, is queued for Receive.
	Handlers map[MessageType]Handler
	// ReceiveQueue bounds the messages queued for Receive; further ones are
	// dropped, logged and counted in Stats.Unsolicited. Default 256.
	ReceiveQueue int
	// Auth, when set, authenticates the connection as soon as Dial has
	// connected, within Dial's context and connect timeout; Dial fails if
	// it fails (the error wraps ErrAuthFailed for the built-in ones).
	// NewClient does not run it. See TokenCredentials, HMACCredentials.
	Auth ClientAuthenticator
}

// Client is a connection to a binproto server. All methods are safe for
// concurrent use: concurrent requests are pipelined on the one connection
// and matched to replies in order, since the compatible framing carries no
// request ids.
//
// A client over a stream connection with no push handlers reads the
// connection only while a request waits for its reply: the waiting caller
// that holds the read token reads and dispatches frames itself (replies to
// their requests, in order, other messages to the Receive queue) until its
// own reply has come, then hands the token to another waiting caller, if
// any. Sequential requests thus read their own replies, with no hand-off
// between goroutines. A client with push handlers, a UDP client, and a
// client on which Receive, Conn.Done or Conn.Context was called read all
// the time instead, on a background goroutine. In the first (direct) mode,
// a connection that dies while no request waits is noticed at the next
// request, and messages the server sends meanwhile wait in the
// connection's buffers until then.
//
// Over UDP, requests go one at a time, and replies are still matched by
// order alone. A reply that arrives after its request gave up (its context
// ended) is treated as unsolicited only if no other request is waiting by
// then; if one is, the late reply is taken as that request's reply, and the
// right reply, arriving next, goes to Receive as unsolicited. Give UDP
// requests contexts longer than the round trip, or make replies say which
// request they answer, where that matters.
type Client struct {
	proto    *Protocol
	conn     *Conn
	handlers handlerSet
	recv     chan *Message
	stats    counters
	udp      bool
	udpMu    sync.Mutex // one UDP request at a time

	// rtok is the read token: whoever holds it (sends into it) owns the
	// connection's reading (Conn.rd and the read deadline state). A caller
	// waiting for its reply in direct mode takes it and reads until its
	// reply has come; the background reader takes it for good.
	rtok   chan struct{}
	bg     atomic.Bool // the background reader is started
	bgOnce sync.Once

	// mu guards pending, head and err. roundTrip takes it inside the
	// writer's lock (Writer.TryQueue), so that pending is in the order of
	// the frames on the wire; it is never held while waiting, so the read
	// loop (popCall) always gets it.
	mu      sync.Mutex
	pending []*call // requests awaiting replies, oldest first from head
	head    int
	err     error       // set once the connection is gone
	shut    atomic.Bool // Close was called
	inPush  atomic.Bool // a push handler is running on the background reader
}

// call is one request awaiting its reply.
type call struct {
	done    chan struct{} // signalled once, buffered
	state   atomic.Int32  // callWaiting, callTaken or callAbandoned
	reqType MessageType
	typ     MessageType
	payload []byte // the reply payload, owned by the call
	err     error
}

const (
	callWaiting int32 = iota
	callTaken
	callAbandoned
)

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// Dial connects to addr with the transport of p's config (TCP, or TLS when
// opts.TLSConfig is set, or UDP), within ctx and the connect timeout.
func Dial(ctx context.Context, p *Protocol, addr string, opts *ClientOptions) (*Client, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	if t := p.cfg.ConnectTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var nc net.Conn
	var err error
	switch {
	case p.cfg.Transport == UDP && opts.TLSConfig != nil:
		return nil, &ConfigError{Option: "ClientOptions.TLSConfig", Reason: "TLS is not available over UDP"}
	case p.cfg.Transport == UDP:
		nc, err = (&net.Dialer{}).DialContext(ctx, "udp", addr)
	case opts.TLSConfig != nil:
		cfg := tlsFloor(opts.TLSConfig)
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		nc, err = (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
	default:
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	cl := NewClient(p, nc, opts)
	if opts.Auth != nil {
		if err := opts.Auth.Authenticate(ctx, cl); err != nil {
			cl.Close()
			return nil, err
		}
	}
	return cl, nil
}

// NewClient runs a client over an established connection nc (a net.Pipe,
// a Unix socket, an already-dialled TLS connection...). A *net.UDPConn, or
// any connection whose local address is on a datagram network ("udp",
// "udp4", "udp6", "unixgram"), is treated as a datagram connection.
func NewClient(p *Protocol, nc net.Conn, opts *ClientOptions) *Client {
	if opts == nil {
		opts = &ClientOptions{}
	}
	q := opts.ReceiveQueue
	if q <= 0 {
		q = 256
	}
	cl := &Client{proto: p, recv: make(chan *Message, q), rtok: make(chan struct{}, 1)}
	cl.udp = isDatagram(nc)
	for t, h := range opts.Handlers {
		cl.handlers.handle(t, h)
	}
	log := opts.Logger
	if log == nil {
		log = discardLogger
	}
	cl.conn = newConn(p, nc, cl, log, &cl.stats)
	if cl.udp || len(opts.Handlers) > 0 {
		cl.background()
	} else {
		cl.conn.watch = cl.background
	}
	return cl
}

// background starts the background reader, once: it takes the read token
// (after the current direct reader, if any, is done with it) and reads
// until the connection dies. A datagram client starts it at once.
func (cl *Client) background() {
	if cl.bg.Load() {
		return
	}
	cl.bgOnce.Do(func() {
		cl.bg.Store(true)
		loop := cl.conn.readLoop
		if cl.udp {
			loop = cl.conn.datagramLoop
		}
		go func() {
			cl.rtok <- struct{}{}
			if !cl.conn.ended() {
				loop()
			}
			<-cl.rtok
		}()
	})
}

// reap finishes a closed connection that nobody reads: it takes the read
// token (whoever reads meets the closed connection, finishes and hands it
// on) and finishes unless that was done. It returns at once on a push
// handler, which runs holding the token.
func (cl *Client) reap() {
	if cl.inPush.Load() {
		return
	}
	cl.rtok <- struct{}{}
	if !cl.conn.ended() {
		cl.conn.finish(net.ErrClosed)
	}
	<-cl.rtok
}

// Stats returns a snapshot of the client's counters.
func (cl *Client) Stats() Stats { return cl.stats.snapshot() }

// Conn returns the client's connection.
func (cl *Client) Conn() *Conn { return cl.conn }

// Close closes the connection; pending requests fail with ErrClientClosed.
// Messages already queued by Send are written first (within the write
// timeout). It waits until reading has ended, except while a push handler
// is running (the handler runs on the background reader, so Close may be
// called from it): it then returns once the connection is closed, and the
// reader exits when the handler returns. Safe to call more than once.
func (cl *Client) Close() error {
	if !cl.shut.Swap(true) {
		t := cl.proto.cfg.WriteTimeout
		if t <= 0 {
			t = DefaultTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), t)
		cl.conn.w.Wait(ctx)
		cancel()
	}
	cl.conn.Close() // and reap
	if !cl.inPush.Load() {
		<-cl.conn.done
	}
	return nil
}

// Send sends a one-way message: it returns once the message is queued (see
// Conn.Send); Close writes what is queued before closing. An encoding error
// fails this call only.
func (cl *Client) Send(ctx context.Context, out Outgoing) error {
	if err := cl.usable(); err != nil {
		return err
	}
	return cl.conn.Send(ctx, out)
}

// SendBatch encodes every message into one buffer and sends them with one
// write (one datagram each over UDP). Nothing is sent if any fails to encode.
func (cl *Client) SendBatch(ctx context.Context, outs ...Outgoing) error {
	buf := getBatchBuffer(cl.proto)
	defer putBuffer(cl.proto, buf)
	b := (*buf)[:0]
	var err error
	for _, o := range outs {
		if b, err = cl.proto.AppendFrame(b, o); err != nil {
			return err
		}
	}
	*buf = b
	return cl.sendFrames(ctx, b, len(outs))
}

// SendBatchTyped sends every element of vs as a message of type t, encoded
// by c into one buffer and written at once: the fast path for streams of
// small fixed-size messages.
func SendBatchTyped[T any](ctx context.Context, cl *Client, t MessageType, c *Codec[T], vs []T) error {
	buf := getBatchBuffer(cl.proto)
	defer putBuffer(cl.proto, buf)
	b := (*buf)[:0]
	var err error
	for i := range vs {
		if b, err = cl.proto.AppendFrame(b, Typed(t, c, &vs[i])); err != nil {
			return err
		}
	}
	*buf = b
	return cl.sendFrames(ctx, b, len(vs))
}

// sendFrames writes n whole frames held in b.
func (cl *Client) sendFrames(ctx context.Context, b []byte, n int) error {
	if err := cl.usable(); err != nil {
		return err
	}
	if !cl.udp {
		if err := cl.conn.w.Write(ctx, b); err != nil {
			return err
		}
		cl.stats.msgsOut.Add(uint64(n))
		cl.stats.bytesOut.Add(uint64(len(b)))
		return nil
	}
	for len(b) > 0 {
		rest, fr, ok, err := cl.proto.framing.ParseFrame(b)
		if err != nil || !ok {
			return errors.Join(wire.ErrTruncated, err)
		}
		if err := cl.conn.w.Write(ctx, b[:fr.Len]); err != nil {
			return err
		}
		cl.stats.sent(fr.Len)
		b = rest
	}
	return nil
}

func (cl *Client) usable() error {
	if cl.shut.Load() {
		return ErrClientClosed
	}
	return nil
}

// Request sends out and waits for the reply, until ctx is done. A not-found
// reply is a *NotFoundError. The returned message owns its payload.
func (cl *Client) Request(ctx context.Context, out Outgoing) (*Message, error) {
	k, err := cl.roundTrip(ctx, out)
	if err != nil {
		return nil, err
	}
	m := &Message{Type: k.typ, Payload: append([]byte(nil), k.payload...), proto: cl.proto}
	cl.release(k)
	return m, nil
}

// RequestTyped sends out and decodes the reply into resp with codec c,
// returning the reply's type. A not-found reply is a *NotFoundError; a
// reply of a type whose structure does not match c is ErrStructureMismatch.
func RequestTyped[T any](ctx context.Context, cl *Client, out Outgoing, c *Codec[T], resp *T) (MessageType, error) {
	k, err := cl.roundTrip(ctx, out)
	if err != nil {
		return 0, err
	}
	defer cl.release(k)
	if err := cl.proto.checkCodec(k.typ, c.Structure()); err != nil {
		return k.typ, err
	}
	return k.typ, c.DecodePayload(k.payload, resp)
}

// roundTrip queues out, registers a call for its reply and waits for it.
func (cl *Client) roundTrip(ctx context.Context, out Outgoing) (*call, error) {
	if err := cl.usable(); err != nil {
		return nil, err
	}
	if cl.udp {
		cl.udpMu.Lock()
		defer cl.udpMu.Unlock()
	}
	buf := getBuffer(cl.proto)
	b, err := cl.proto.AppendFrame((*buf)[:0], out)
	*buf = b
	if err != nil {
		putBuffer(cl.proto, buf)
		return nil, err
	}
	k := callPool.Get().(*call)
	k.reqType, k.err = out.Type, nil
	k.state.Store(callWaiting)

	// Room is waited for holding no lock: the read loop, which frees room
	// by letting the server go on reading, needs cl.mu to match replies.
	// TryQueue then appends k to pending under the writer's lock, so that
	// pending is in the order of the frames on the wire.
	// The loop goes round when others filled the room first.
	var flush bool
	for queued := false; !queued && err == nil; {
		if err = cl.conn.w.WaitRoom(ctx, len(b)); err == nil {
			queued, flush, err = cl.conn.w.TryQueue(b, func() error { return cl.addCall(k) })
		}
	}
	if err != nil {
		if errors.Is(err, ErrConnClosed) {
			err = cl.connErr(err)
		}
		putBuffer(cl.proto, buf)
		callPool.Put(k)
		return nil, err
	}
	cl.stats.sent(len(b))
	if flush {
		// A failed flush closes the connection, which fails k.
		cl.conn.w.Flush()
	}
	putBuffer(cl.proto, buf)
	return cl.wait(ctx, k)
}

// addCall appends k to the pending calls, unless the connection is gone.
func (cl *Client) addCall(k *call) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err != nil {
		return cl.err
	}
	cl.pending = append(cl.pending, k)
	return nil
}

// connErr returns the error pending calls failed with, or err while the
// read loop has not yet recorded one.
func (cl *Client) connErr(err error) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err != nil {
		return cl.err
	}
	return err
}

// wait waits for k's reply or for ctx, reading the connection itself
// whenever it gets the read token.
func (cl *Client) wait(ctx context.Context, k *call) (*call, error) {
	for done := false; !done; {
		var err error
		select {
		case <-k.done:
			done = true
			continue
		case <-ctx.Done():
			err = ctx.Err()
		case cl.rtok <- struct{}{}:
			err = cl.lead(ctx, k)
			<-cl.rtok
		}
		switch {
		case err != nil:
			if cl.abandon(k) {
				return nil, err
			}
			done = true // abandon received k.done
		case k.state.Load() != callWaiting:
			<-k.done // delivered, or being delivered by closed
			done = true
		}
	}
	if k.err != nil {
		err := k.err
		cl.release(k)
		return nil, err
	}
	if k.typ == cl.proto.cfg.NotFoundType {
		err := &NotFoundError{Type: k.reqType}
		cl.release(k)
		return nil, err
	}
	return k, nil
}

// abandon gives up on k, whose caller's context ended, unless its reply (or
// failure) is already being delivered: then it waits for the delivery and
// returns false.
func (cl *Client) abandon(k *call) bool {
	if k.state.CompareAndSwap(callWaiting, callAbandoned) {
		if cl.udp {
			cl.forget(k)
		}
		return true
	}
	<-k.done // the reply is being delivered
	return false
}

// lead reads and dispatches frames, holding the read token, until k is no
// longer waiting (its reply came, or the connection failed: the reader
// that met the error finishes the connection, which fails k) or ctx ends.
// It returns ctx's error in the last case: the read was interrupted (see
// Conn.interruptRead), the connection stays up and the frame being read
// stays buffered for the next reader.
func (cl *Client) lead(ctx context.Context, k *call) error {
	c := cl.conn
	if c.ended() {
		return nil // k failed with the connection
	}
	if err := c.begin(); err != nil {
		c.finish(err)
		return nil
	}
	if ctx.Done() != nil {
		gen := c.readGen // guarded by the token: only its holder moves it
		stop := context.AfterFunc(ctx, func() { c.interruptRead(gen) })
		defer func() {
			stop()
			c.endInterrupt()
		}()
	}
	for k.state.Load() == callWaiting {
		if err := c.readFrame(); err != nil {
			if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				return ctx.Err()
			}
			c.finish(err)
			return nil
		}
	}
	return nil
}

// forget removes an abandoned UDP call, whose reply may never come.
func (cl *Client) forget(k *call) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for i := cl.head; i < len(cl.pending); i++ {
		if cl.pending[i] == k {
			cl.pending = append(cl.pending[:i], cl.pending[i+1:]...)
			callPool.Put(k)
			return
		}
	}
}

func (cl *Client) release(k *call) {
	if cap(k.payload) > 64<<10 {
		k.payload = nil
	}
	callPool.Put(k)
}

// Receive returns the next message that was neither a reply nor handled by
// a push handler, waiting until ctx is done or the connection closes. The
// first call makes the client read all the time, on a background goroutine
// (see Client).
func (cl *Client) Receive(ctx context.Context) (*Message, error) {
	cl.background()
	select {
	case m := <-cl.recv:
		return m, nil
	default:
	}
	select {
	case m := <-cl.recv:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-cl.conn.done:
		select {
		case m := <-cl.recv:
			return m, nil
		default:
		}
		if cl.shut.Load() {
			return nil, ErrClientClosed
		}
		return nil, ErrConnClosed
	}
}

// dispatch implements peer for the client side: push handlers first, then
// the oldest pending request, then the Receive queue.
func (cl *Client) dispatch(c *Conn, fr wire.Frame) (CloseReason, error) {
	t := MessageType(fr.Type)
	if h, explicit := cl.handlers.lookup(t); explicit {
		cl.inPush.Store(true) // lets Close, called by h, skip waiting for this reader
		defer cl.inPush.Store(false)
		return c.handle(h, fr)
	}
	if k := cl.popCall(); k != nil {
		if k.state.CompareAndSwap(callWaiting, callTaken) {
			k.typ = t
			k.payload = append(k.payload[:0], fr.Payload...)
			k.done <- struct{}{}
		} else if !cl.udp {
			callPool.Put(k) // abandoned: its reply is dropped here
		}
		return "", nil
	}
	m := &Message{Type: t, Payload: append([]byte(nil), fr.Payload...), proto: cl.proto}
	select {
	case cl.recv <- m:
	default:
		cl.stats.unsolicited.Add(1)
		c.log.Warn("binproto: receive queue full; message dropped", "type", t)
	}
	return "", nil
}

func (cl *Client) popCall() *call {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.head == len(cl.pending) {
		return nil
	}
	k := cl.pending[cl.head]
	cl.pending[cl.head] = nil
	cl.head++
	if cl.head == len(cl.pending) {
		cl.pending, cl.head = cl.pending[:0], 0
	}
	return k
}

// unknownType implements peer: a client has nothing to answer.
func (cl *Client) unknownType(*Conn) {}

// closed implements peer: every pending request fails at once.
func (cl *Client) closed(c *Conn, err error) {
	cerr := ErrConnClosed
	if cl.shut.Load() {
		cerr = ErrClientClosed
	} else if err != nil && !errors.Is(err, net.ErrClosed) {
		cerr = fmt.Errorf("%w: %w", ErrConnClosed, err)
	}
	cl.mu.Lock()
	cl.err = cerr
	pending := cl.pending[cl.head:]
	cl.pending, cl.head = nil, 0
	cl.mu.Unlock()
	for _, k := range pending {
		if k.state.CompareAndSwap(callWaiting, callTaken) {
			k.err = cerr
			k.done <- struct{}{}
		}
	}
}
