package binproto

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/internal/engine"
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
	// Handlers handle messages the server pushes: a message of a type
	// declared in Config.Pushes, or one that answers no pending request
	// (see Client), goes to the handler of its type, if any, and otherwise
	// to the Receive queue. Handlers run one at a time on the client's
	// reading goroutine.
	Handlers map[MessageType]Handler
	// ReceiveQueue bounds the messages queued for Receive; further ones are
	// dropped, logged and counted in Stats.Unsolicited. Default 256.
	ReceiveQueue int
	// Observer, when set, is told of every request, one-way message and
	// push of the client and of its connection's events (see Observer).
	// Nil: nothing is observed, at no cost.
	Observer Observer
	// Auth, when set, authenticates the connection as soon as Dial has
	// connected, within Dial's context and connect timeout; Dial fails if
	// it fails (the error wraps ErrAuthFailed for the built-in ones).
	// NewClient does not run it. See TokenCredentials, HMACCredentials.
	Auth ClientAuthenticator
	// AlwaysRead makes the client read the connection all the time, on a
	// goroutine of its own, even with no push handlers: it then notices a
	// dead server while idle (Conn.Done closes), at the cost of a hand-off
	// between goroutines for every reply. See Client.
	AlwaysRead bool
	// Profile is the wire profile the client speaks: ProfileCompatible
	// (the default) or ProfileNative, which Dial negotiates with the
	// server's preface (see Profile). A native client matches replies by
	// request id: Config.Replies does not apply.
	Profile Profile
	// Fallback lets Dial fall back to the compatible profile, on a new
	// connection, when the server does not speak the native one (a
	// compatible-only server, such as the Python package). Without it Dial
	// fails with ErrNotNative.
	Fallback bool
	// Keepalive, on the native profile, pings the server when it has been
	// silent for this long and closes the connection when it stays silent
	// for two intervals (Conn.Done closes, pending requests fail), so a
	// dead server is noticed while idle. The client then reads all the
	// time, like AlwaysRead. Zero: no pings; an interval under MinKeepalive
	// is raised to it.
	Keepalive time.Duration
}

// Client is a connection to a binproto server. All methods are safe for
// concurrent use.
//
// A client with push handlers, a UDP client, one on which Receive was
// called and one with ClientOptions.AlwaysRead read the connection all the
// time, on a goroutine of their own, and so notice a dead server at once.
// Any other client reads only while a request waits for its reply: the
// waiting caller reads the connection itself until its reply has come
// (twice the round trips per second of a hand-off between goroutines); a
// connection that dies while no request waits is then noticed at the next
// request, and Conn.Done closes only then, or at Close.
//
// Concurrent requests are pipelined on the one connection. The compatible
// framing carries no request ids, so replies are matched to requests by
// order and by type: a frame answers the oldest pending request if its type
// is one of that request's reply types (Config.Replies; by default, the
// request's own type) or the not-found type. A frame of a type declared in
// Config.Pushes, or one that no pending request accepts, is a push: it goes
// to its handler, or to Receive, or is counted in Stats.Unsolicited, and the
// requests keep waiting for their own replies (one of an undeclared type
// that arrives while a request waits is logged once per type). A frame
// that a later request accepts but the oldest does not means the oldest
// will get no reply it can take: it alone fails with an
// *UnexpectedReplyError naming both types. Declare Replies and Pushes, and
// no push is ever taken for a reply.
//
// Over UDP, requests go one at a time; a reply that arrives after its
// request gave up is dropped unless a request of the same types waits.
type Client struct {
	proto    *Protocol
	conn     *Conn
	handlers handlerSet
	recv     chan *Message
	stats    engine.Counters
	udp      bool
	udpMu    sync.Mutex // one UDP request at a time

	// mu guards pending, which addCall appends to in the order of the
	// frames on the wire (under the writer's lock) and the read goroutine
	// takes from; it is never held while waiting.
	mu      sync.Mutex
	pending []*call // requests awaiting replies, oldest first from head
	head    int
	err     error        // set once the connection is gone
	shut    atomic.Bool  // Close was called
	inPush  atomic.Bool  // a push handler is running on the read goroutine
	warned  sync.Map     // message types already warned of as undeclared pushes
	callers atomic.Int32 // requests being made: more than one, and their frames share writes

	// The native profile (native_client.go); streams and away are guarded
	// by mu.
	native  bool
	streams map[uint32]*call // requests awaiting replies, by id
	away    *Error           // set by the server's goaway
	awayc   chan struct{}    // closed at the server's goaway
	nextID  atomic.Uint32

	reqSize, batchSize sizeHint // the last request and batch sizes
}

// call is one request awaiting its reply.
type call struct {
	id      uint32        // the request id (native profile)
	done    chan struct{} // signalled once, buffered
	state   atomic.Int32  // callWaiting, callTaken or callAbandoned
	reqType MessageType
	accept  []MessageType // the reply types, when not the protocol's (authentication)
	typ     MessageType
	payload *[]byte // the reply payload, owned by the call (unless dec decodes it)
	err     error

	replyBytes int // the reply's frame size

	// dec, when set, decodes the reply into dst on the reading goroutine,
	// straight from the read buffer (RequestTyped); decErr is its error.
	dec    replyDecoder
	dst    any
	decErr error
}

// replyDecoder decodes a reply payload into dst; implementations are
// pointer-shaped, so storing one in a call does not allocate.
type replyDecoder interface {
	decodeReply(p *Protocol, t MessageType, payload []byte, dst any) error
}

type typedDecoder[T any] struct{ c *Codec[T] }

func (d typedDecoder[T]) decodeReply(p *Protocol, t MessageType, payload []byte, dst any) error {
	if err := p.checkCodec(t, d.c.Structure()); err != nil {
		return err
	}
	return d.c.DecodePayload(payload, dst.(*T))
}

// waiting reports whether k still waits for its reply.
func (k *call) waiting() bool { return k.state.Load() == callWaiting }

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
	cl, err := NewClientContext(ctx, p, nc, opts)
	if errors.Is(err, ErrNotNative) && opts.Fallback {
		compat := *opts
		compat.Profile = ProfileCompatible
		return Dial(ctx, p, addr, &compat)
	}
	return cl, err
}

// NewClientContext runs a client over an established connection nc, as
// NewClient does, and then, within ctx, negotiates the native profile
// (when opts.Profile asks for it) and runs opts.Auth. On error nc is
// closed.
func NewClientContext(ctx context.Context, p *Protocol, nc net.Conn, opts *ClientOptions) (*Client, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	var rest []byte
	if opts.Profile == ProfileNative {
		if engine.IsDatagram(nc) {
			nc.Close()
			return nil, &ConfigError{Option: "ClientOptions.Profile", Reason: "the native profile runs over streams only (TCP, TLS)"}
		}
		var err error
		if rest, err = nativeHandshake(ctx, p, nc, opts); err != nil {
			nc.Close()
			return nil, err
		}
	}
	cl := newClient(p, nc, opts, rest)
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
//
// A client of the native profile negotiates it first, within the connect
// timeout; when that fails, the client returned is closed, and its calls
// fail with the error (use NewClientContext to see it at once).
func NewClient(p *Protocol, nc net.Conn, opts *ClientOptions) *Client {
	if opts == nil {
		opts = &ClientOptions{}
	}
	if opts.Profile == ProfileNative {
		ctx, cancel := context.WithTimeout(context.Background(), p.connectTimeout())
		defer cancel()
		local := *opts
		local.Auth = nil
		cl, err := NewClientContext(ctx, p, nc, &local)
		if err != nil {
			cl = newClient(p, nc, &ClientOptions{Logger: opts.Logger}, nil)
			cl.conn.e.Close(CloseLocal, err)
		}
		return cl
	}
	return newClient(p, nc, opts, nil)
}

// newClient runs a client over nc; for the native profile, whose
// handshake is done, rest is what was read past the server's preface.
func newClient(p *Protocol, nc net.Conn, opts *ClientOptions, rest []byte) *Client {
	q := opts.ReceiveQueue
	if q <= 0 {
		q = 256
	}
	cl := &Client{proto: p, recv: make(chan *Message, q)}
	for t, h := range opts.Handlers {
		cl.handlers.handle(t, h)
	}
	log := opts.Logger
	if log == nil {
		log = discardLogger
	}
	o := engineOptions(p, log, &cl.stats, 0, p.cfg.ConnectTimeout)
	cl.native = opts.Profile == ProfileNative
	if cl.native {
		o.Framing = engine.Native{N: &p.native.layout}
		cl.streams = make(map[uint32]*call)
		cl.awayc = make(chan struct{})
	}
	cl.conn = newConn(p, nc, o, func(c *Conn) engine.Dispatcher { return (*clientConn)(cl) })
	cl.conn.native = cl.native
	if len(rest) > 0 {
		cl.conn.e.Prime(nil, rest)
	}
	cl.udp = cl.conn.e.Datagram()
	cl.conn.obs = newObservation(opts.Observer, SideClient, p)
	cl.conn.observeConn(ConnOpened, "", nil)
	keepalive := cl.native && opts.Keepalive > 0
	if cl.udp || len(opts.Handlers) > 0 || opts.AlwaysRead || alwaysRead || keepalive {
		cl.conn.e.StartReading()
	}
	if keepalive {
		cl.conn.e.Keepalive(max(opts.Keepalive, MinKeepalive), cl.sendPing)
	}
	return cl
}

// Stats returns a snapshot of the client's counters.
func (cl *Client) Stats() Stats { return snapshot(&cl.stats) }

// Conn returns the client's connection.
func (cl *Client) Conn() *Conn { return cl.conn }

// Close closes the connection; pending requests fail with ErrClientClosed.
// Messages already queued by Send are written first (within the write
// timeout). It waits until reading has ended, except when called from a
// push handler (which runs on the reading goroutine): it then returns once
// the connection is closed, and reading ends when the handler returns.
// Safe to call more than once.
func (cl *Client) Close() error {
	if !cl.shut.Swap(true) {
		t := cl.proto.cfg.WriteTimeout
		if t <= 0 {
			t = DefaultTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), t)
		cl.conn.Flush(ctx)
		cancel()
	}
	if cl.inPush.Load() {
		cl.conn.e.Close(CloseLocal, nil) // the reader, running this handler, finishes
		return nil
	}
	cl.conn.e.Stop(CloseLocal, nil)
	<-cl.conn.Done()
	return nil
}

// Flush waits until every message queued so far (by Send, SendBatch and
// requests) has been written to the socket, and returns nil; or returns the
// error that lost some of them (the connection failed or closed first), or
// ctx's error. Send then Flush is the way to know that one-way messages
// left this process.
func (cl *Client) Flush(ctx context.Context) error { return cl.conn.Flush(ctx) }

// Send sends a one-way message. A ctx that is already done sends nothing.
// A nil error means the message is queued, not that it was written: see
// Conn.Send and Flush. Close writes what is queued before closing. An
// encoding error fails this call only.
func (cl *Client) Send(ctx context.Context, out Outgoing) error {
	if err := cl.usable(); err != nil {
		return err
	}
	return cl.conn.Send(ctx, out)
}

// SendBatch encodes every message into one buffer and sends them with one
// write (one datagram each over UDP). Nothing is sent if any fails to
// encode, or if ctx is already done. It returns once the batch is written.
func (cl *Client) SendBatch(ctx context.Context, outs ...Outgoing) error {
	buf := getBuffer(cl.proto, cl.batchSize.get())
	defer putBuffer(cl.proto, buf)
	b := (*buf)[:0]
	var err error
	for _, o := range outs {
		if b, err = cl.conn.appendOut(b, o); err != nil {
			return err
		}
	}
	*buf = b
	cl.batchSize.set(len(b))
	return cl.sendFrames(ctx, b, len(outs))
}

// SendBatchTyped sends every element of vs as a message of type t, encoded
// by c into one buffer and written at once: the fast path for streams of
// small fixed-size messages.
func SendBatchTyped[T any](ctx context.Context, cl *Client, t MessageType, c *Codec[T], vs []T) error {
	buf := getBuffer(cl.proto, cl.batchSize.get())
	defer putBuffer(cl.proto, buf)
	b := (*buf)[:0]
	var err error
	for i := range vs {
		if b, err = cl.conn.appendOut(b, Typed(t, c, &vs[i])); err != nil {
			return err
		}
	}
	*buf = b
	cl.batchSize.set(len(b))
	return cl.sendFrames(ctx, b, len(vs))
}

// writeFrames writes n whole frames held in b.
func (cl *Client) writeFrames(ctx context.Context, b []byte, n int) error {
	if err := cl.usable(); err != nil {
		return err
	}
	if err := doneErr(ctx); err != nil {
		return err
	}
	if !cl.udp {
		return cl.conn.write(ctx, b, n)
	}
	for len(b) > 0 {
		rest, fr, ok, err := cl.proto.framing.ParseFrame(b)
		if err != nil || !ok {
			return errors.Join(wire.ErrTruncated, err)
		}
		if err := cl.conn.write(ctx, b[:fr.Len], 1); err != nil {
			return err
		}
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

// Request sends out and waits for its reply, until ctx is done. A ctx that
// is already done sends nothing. A not-found reply is a *NotFoundError; a
// reply of a type out's type does not accept (Config.Replies) is an
// *UnexpectedReplyError. The returned message owns its payload.
func (cl *Client) Request(ctx context.Context, out Outgoing) (*Message, error) {
	m, _, err := cl.request(ctx, out)
	return m, err
}

// request is Request that also reports whether out was queued for writing.
func (cl *Client) request(ctx context.Context, out Outgoing) (*Message, bool, error) {
	k, n, err := cl.roundTripSent(ctx, out, nil, nil, nil)
	if err != nil {
		return nil, n > 0, err
	}
	m := &Message{Type: k.typ, Payload: append([]byte(nil), *k.payload...), proto: cl.proto}
	cl.release(k)
	return m, true, nil
}

// RequestTyped sends out and decodes the reply into resp with codec c,
// returning the reply's type. Errors are as for Request; a reply of a type
// whose structure does not match c is ErrStructureMismatch.
//
// The reply is decoded into resp on the goroutine that reads it, straight
// from the read buffer. A []byte field of resp that already has an array
// is decoded into that array (as encoding/json does with slices), so a
// caller that reuses resp does not allocate; set it to nil first to get a
// fresh one.
func RequestTyped[T any](ctx context.Context, cl *Client, out Outgoing, c *Codec[T], resp *T) (MessageType, error) {
	t, _, err := requestTyped(ctx, cl, out, c, resp)
	return t, err
}

// requestTyped is RequestTyped that also reports whether out was queued
// for writing.
func requestTyped[T any](ctx context.Context, cl *Client, out Outgoing, c *Codec[T], resp *T) (MessageType, bool, error) {
	k, n, err := cl.roundTripSent(ctx, out, nil, typedDecoder[T]{c}, resp)
	if err != nil {
		return 0, n > 0, err
	}
	t, err := k.typ, k.decErr
	cl.release(k)
	return t, true, err
}

// exchange queues out, registers a call for its reply (of a type in
// accept, or of one the protocol declares when accept is nil) and waits
// for it; *sent is set to the size of the request once written.
func (cl *Client) exchange(ctx context.Context, out Outgoing, accept []MessageType, dec replyDecoder, dst any, sent *int) (*call, error) {
	if err := cl.usable(); err != nil {
		return nil, err
	}
	if err := doneErr(ctx); err != nil {
		return nil, err // a done context sends nothing
	}
	cl.callers.Add(1)
	defer cl.callers.Add(-1)
	if cl.udp {
		cl.udpMu.Lock()
		defer cl.udpMu.Unlock()
	}
	buf := getBuffer(cl.proto, cl.reqSize.get())
	defer putBuffer(cl.proto, buf)
	var id uint32
	var b []byte
	var err error
	if cl.native {
		if err := cl.goingAway(); err != nil {
			return nil, err
		}
		id = cl.newID()
		h := wire.NativeHeader{Kind: wire.KindRequest, ID: id}
		h.Meta = cl.traceMeta(ctx) // an Observer's trace context (native_client.go)
		if dl, ok := ctx.Deadline(); ok {
			// The server's handler gets the caller's remaining time.
			if h.Timeout = time.Until(dl); h.Timeout <= 0 {
				return nil, context.DeadlineExceeded
			}
		}
		b, err = cl.proto.appendNative((*buf)[:0], &h, out)
	} else {
		b, err = cl.proto.AppendFrame((*buf)[:0], out)
	}
	*buf = b
	if err != nil {
		return nil, err
	}
	cl.reqSize.set(len(b))
	k := callPool.Get().(*call)
	k.id = id
	k.reqType, k.accept, k.err, k.dec, k.dst, k.decErr = out.Type, accept, nil, dec, dst, nil
	k.state.Store(callWaiting)

	// Room is waited for holding no lock: the read goroutine, which frees
	// room by letting the server go on reading, needs cl.mu to match
	// replies. TryWrite then appends k to pending under the writer's lock,
	// so that pending is in the order of the frames on the wire, and writes
	// the frame straight from b when the writer is idle. The loop goes
	// round when others filled the room first. A write that fails once k is
	// queued closes the connection, which fails k.
	w := cl.conn.e.Writer()
	for queued := false; !queued && err == nil; {
		if err = w.WaitRoom(ctx, len(b)); err == nil {
			queued, err = w.TryWrite(b, func() error { return cl.addCall(k) }, cl.callers.Load() > 1)
			if queued {
				err = nil
			}
		}
	}
	if err != nil {
		if errors.Is(err, ErrConnClosed) {
			err = cl.connErr(err)
		}
		k.dec, k.dst = nil, nil
		callPool.Put(k)
		return nil, err
	}
	cl.stats.Sent(len(b))
	*sent = len(b)
	return cl.wait(ctx, k)
}

// addCall appends k to the pending calls, unless the connection is gone.
func (cl *Client) addCall(k *call) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err != nil {
		return cl.err
	}
	if cl.native {
		cl.streams[k.id] = k
		return nil
	}
	cl.pending = append(cl.pending, k)
	return nil
}

// connErr returns the error pending calls failed with, or err while the
// read goroutine has not yet recorded one.
func (cl *Client) connErr(err error) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err != nil {
		return cl.err
	}
	return err
}

// wait waits for k's reply or for ctx, reading the connection itself when
// nobody else does (see Client).
func (cl *Client) wait(ctx context.Context, k *call) (*call, error) {
	if _, err := cl.conn.e.Await(ctx, k.done, k.waiting); err != nil {
		if k.state.CompareAndSwap(callWaiting, callAbandoned) {
			// The read goroutine recycles k when its reply comes (or the
			// connection ends); over UDP, where it may never come, it is
			// forgotten now.
			switch {
			case cl.udp:
				cl.forget(k)
			case cl.native:
				cl.abandon(k) // native_client.go
			}
			return nil, err
		}
		<-k.done // the reply is being delivered
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
	if k.payload != nil {
		putBuffer(cl.proto, k.payload)
		k.payload = nil
	}
	k.dec, k.dst = nil, nil
	callPool.Put(k)
}

// Receive returns the next message that was neither a reply nor handled by
// a push handler, waiting until ctx is done or the connection closes. The
// first call makes the client read all the time (see Client).
func (cl *Client) Receive(ctx context.Context) (*Message, error) {
	cl.conn.e.StartReading()
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
	case <-cl.conn.Done():
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

// accepts reports whether a frame of type t answers k.
func (cl *Client) accepts(k *call, t MessageType) bool {
	if k.accept != nil {
		return t == cl.proto.cfg.NotFoundType || containsType(k.accept, t)
	}
	return cl.proto.accepts(k.reqType, t)
}

// match finds the call a frame of type t answers (the first pending call
// that accepts t) and takes it off the pending list, with the calls before
// it, which will never get their reply: they are returned in skipped. A nil
// k means t answers no pending call: it is a push.
func (cl *Client) match(t MessageType) (k *call, skipped []*call) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.head == len(cl.pending) || cl.proto.isPush(t) {
		return nil, nil
	}
	i := cl.head
	for i < len(cl.pending) && !cl.accepts(cl.pending[i], t) {
		i++
	}
	if i == len(cl.pending) {
		return nil, nil
	}
	if i > cl.head {
		skipped = append([]*call(nil), cl.pending[cl.head:i]...)
	}
	k = cl.pending[i]
	clear(cl.pending[cl.head : i+1])
	cl.head = i + 1
	if cl.head == len(cl.pending) {
		cl.pending, cl.head = cl.pending[:0], 0
	}
	return k, skipped
}

// waiting returns the type of the oldest pending request, if any.
func (cl *Client) waiting() (MessageType, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.head == len(cl.pending) {
		return 0, false
	}
	return cl.pending[cl.head].reqType, true
}

func (cl *Client) hasHandler(t MessageType) bool {
	_, explicit := cl.handlers.lookup(t)
	return explicit
}

// clientConn is the engine's Dispatcher for a client's connection.
type clientConn Client

// Begin implements engine.Dispatcher: a client has nothing to begin with.
func (*clientConn) Begin(*engine.Conn) error { return nil }

// Dispatch implements engine.Dispatcher: replies to their requests, pushes
// to their handlers or the Receive queue.
func (cc *clientConn) Dispatch(_ *engine.Conn, fr wire.Frame) error {
	cl := (*Client)(cc)
	if fr.Kind != 0 {
		return cl.dispatchNative(fr) // native_client.go
	}
	t := MessageType(fr.Type)
	k, skipped := cl.match(t)
	for _, s := range skipped {
		cl.fail(s, &UnexpectedReplyError{Request: s.reqType, Reply: t})
	}
	if k != nil {
		k.replyBytes = fr.Len
		cl.deliver(k, t, fr.Payload)
		return nil
	}
	return cl.push(t, fr)
}

// deliver hands a reply to k, or drops it if k's caller gave up.
func (cl *Client) deliver(k *call, t MessageType, payload []byte) {
	if !k.state.CompareAndSwap(callWaiting, callTaken) {
		if !cl.udp {
			k.dec, k.dst = nil, nil
			callPool.Put(k) // abandoned: its reply is dropped here
		}
		return
	}
	k.typ = t
	switch {
	case k.dec != nil && t != cl.proto.cfg.NotFoundType:
		k.decErr = k.dec.decodeReply(cl.proto, t, payload, k.dst)
	case k.dec == nil:
		k.payload = getBuffer(cl.proto, len(payload))
		*k.payload = append(*k.payload, payload...)
	}
	k.done <- struct{}{}
}

// fail fails k with err, unless its caller gave up.
func (cl *Client) fail(k *call, err error) {
	if k.state.CompareAndSwap(callWaiting, callTaken) {
		k.err = err
		k.done <- struct{}{}
	} else if !cl.udp {
		k.dec, k.dst = nil, nil
		callPool.Put(k)
	}
}

// push hands a message that is no reply to its handler, or to the Receive
// queue.
func (cl *Client) push(t MessageType, fr wire.Frame) error {
	if h, explicit := cl.handlers.lookup(t); explicit {
		cl.inPush.Store(true) // lets Close, called by h, skip waiting for this reader
		defer cl.inPush.Store(false)
		return cl.conn.handle(h, fr)
	}
	if req, ok := cl.waiting(); ok && !cl.proto.isPush(t) {
		if _, seen := cl.warned.LoadOrStore(t, true); !seen {
			cl.conn.log.Warn("binproto: a message that answers no pending request was taken as a push; if it is a reply, declare its type in Config.Replies (if a push, in Config.Pushes)", "type", t, "waiting_request_type", req)
		}
	}
	m := &Message{Type: t, Payload: append([]byte(nil), fr.Payload...), proto: cl.proto}
	select {
	case cl.recv <- m:
		cl.conn.observePush(t, fr.Len, true)
	default:
		cl.conn.observePush(t, fr.Len, false)
		cl.stats.Unsolicited.Add(1)
		cl.conn.log.Warn("binproto: receive queue full; message dropped", "type", t)
	}
	return nil
}

// Arrived implements engine.Dispatcher: a client has no rates to charge.
func (*clientConn) Arrived(*engine.Conn, int) {}

// UnknownType implements engine.Dispatcher: a client has nothing to answer.
func (*clientConn) UnknownType(*engine.Conn) {}

// Closed implements engine.Dispatcher: every pending request fails at once.
func (cc *clientConn) Closed(_ *engine.Conn, reason CloseReason, err error) {
	cl := (*Client)(cc)
	defer cl.conn.observeConn(ConnClosed, reason, err)
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
	for id, k := range cl.streams {
		pending = append(pending, k)
		delete(cl.streams, id)
	}
	cl.mu.Unlock()
	for _, k := range pending {
		cl.fail(k, cerr)
	}
}

// alwaysRead makes every client read all the time, as AlwaysRead does;
// the tests set it to run every client test in both modes.
var alwaysRead bool
