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

// Server serves a Protocol. Set Protocol, register handlers with Handle,
// HandleFunc or HandleTyped, then call Serve, ListenAndServe or ServePacket.
// The other fields' zero values are valid defaults. Fields must not change
// once serving has begun; handlers may be registered at any time.
type Server struct {
	// Protocol is the validated configuration to serve. Required.
	Protocol *Protocol
	// TLSConfig, when set, makes Serve and ListenAndServe speak TLS. A
	// MinVersion below TLS 1.2 is raised to it.
	TLSConfig *tls.Config
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// MaxConnections bounds the TCP connections served at once; a
	// connection over the bound is closed at once and counted. Zero: seven
	// eighths of the process's file-descriptor limit (RLIMIT_NOFILE) where
	// there is one, so that a flood of connections is refused before the
	// process runs out of descriptors (set it lower to bound memory: see
	// SECURITY.md for the worst case per connection); negative: no bound.
	MaxConnections int
	// MaxBufferedBytes bounds the frame bytes that all connections together
	// hold in memory beyond each one's Config.BufferSize. A frame larger
	// than BufferSize takes its whole declared length from this budget as
	// soon as its header is read, before the rest of it is: when that is
	// not free, the connection waits (its reads stop and TCP pushes back on
	// its peer), holding none of the budget, until it is or its ReadTimeout
	// expires. The payload copies of concurrent handlers, decoded values
	// and replies larger than BufferSize count too while they live: they
	// never wait (the connection holds its frame's share), so the budget
	// may run over by them, and new large frames then wait until it is back
	// under. Frames within BufferSize never wait. Default 64 MiB
	// (DefaultMaxBufferedBytes); negative: no bound.
	MaxBufferedBytes int
	// HandshakeTimeout bounds a TLS handshake, from the connection's accept
	// to the end of the handshake: a peer that stalls it (a ClientHello,
	// then nothing) is closed (CloseReadTimeout). Authentication, if any,
	// then has AuthTimeout. Default 10 s; negative: none.
	HandshakeTimeout time.Duration
	// MaxConcurrentHandlers lets up to this many handlers of one connection
	// run at once (replies still go out in request order). Zero or one:
	// handlers of a connection run one at a time, as in the Python package.
	MaxConcurrentHandlers int
	// Native configures the native profile, which the server speaks to
	// clients that open with its preface, on the same port as the
	// compatible one (see Profile). The zero value serves it.
	Native NativeOptions

	// Auth, when set, authenticates every TCP and TLS connection before any
	// handler sees its messages; see Authenticator and SECURITY.md.
	// ServePacket refuses to serve a server with Auth.
	Auth Authenticator
	// AuthTimeout bounds the time from the end of the TLS handshake to
	// authentication. Default 5 s; negative: none.
	AuthTimeout time.Duration
	// MaxPreAuthBytes bounds the bytes a connection may send before it has
	// authenticated. Default 16 KiB.
	MaxPreAuthBytes int
	// AuthFailures throttles failed authentications per client address:
	// by default, after 5 failures one a second. The zero value is the
	// default; a negative Rate turns it off. See AuthFailureLimit.
	AuthFailures AuthFailureLimit
	// RateLimit bounds messages and bytes per second per connection and per
	// client IP, and connections per IP. The zero value limits nothing.
	RateLimit RateLimit
	// OnInvalid says what happens to a message a validator (see Validate)
	// rejects. The zero value closes the connection.
	OnInvalid Refusal
	// AllowUDPAmplification lets ServePacket send a reply larger than the
	// datagram it answers. Off by default: such replies are dropped and
	// counted in Stats.AmplificationDrops, so that a spoofed source address
	// cannot turn the server into an amplifier.
	AllowUDPAmplification bool
	// UDP tunes how ServePacket reads datagrams: a budget per source
	// address, checked before a datagram is decoded, the goroutines that
	// read, the socket's receive buffer. The zero value is the defaults.
	UDP UDPOptions
	// ProxyProtocol makes the server read the PROXY protocol header (v1
	// and v2) that a TCP load balancer such as HAProxy sends first, and
	// take the client's address from it. Off by default; see ProxyProtocol.
	ProxyProtocol ProxyProtocol
	// Observer, when set, is told of every message and connection event
	// (see Observer; the observe/prometheus and observe/otel modules are
	// two). Nil: nothing is observed, at no cost.
	Observer Observer

	handlers     handlerSet
	handlerTimes sync.Map  // MessageType → *handlerTime, for the native profile (native_server.go)
	sec          serverSec // auth, rate limits, validators (security.go)
	stats        engine.Counters
	conns        engine.Group

	optsOnce sync.Once
	maxConns int             // MaxConnections resolved; 0: no bound
	slots    atomic.Int64    // connections reserved against maxConns (served, or about to be)
	opts     *engine.Options // the engine options of TCP connections
	udpOpts  *engine.Options // of UDP peers
	obs      *observation    // Observer resolved (observer.go)
}

// Server defaults, applied to zero fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second // Server.HandshakeTimeout
	DefaultMaxBufferedBytes = 64 << 20         // Server.MaxBufferedBytes
)

func (s *Server) handshakeTimeout() time.Duration {
	switch {
	case s.HandshakeTimeout == 0:
		return DefaultHandshakeTimeout
	case s.HandshakeTimeout < 0:
		return 0
	}
	return s.HandshakeTimeout
}

// Handle registers h for messages of type t; a nil h removes the handler.
func (s *Server) Handle(t MessageType, h Handler) { s.handlers.handle(t, h) }

// HandleFunc registers f for messages of type t.
func (s *Server) HandleFunc(t MessageType, f func(ctx context.Context, m *Message) (Outgoing, error)) {
	s.handlers.handle(t, HandlerFunc(f))
}

// HandleDefault sets the handler for configured types that have no handler
// of their own. The default default is NotFoundHandler.
func (s *Server) HandleDefault(h Handler) { s.handlers.setDefault(h) }

// HandleTyped registers fn for messages of type t, decoded with codec c.
func HandleTyped[T any](s *Server, t MessageType, c *Codec[T], fn TypedHandlerFunc[T]) {
	s.Handle(t, NewTypedHandler(c, fn))
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := snapshot(&s.stats)
	if s.init() == nil && s.opts.Budget != nil {
		st.BufferedBytes = s.opts.Budget.Used()
	}
	s.sec.addStats(&st) // security.go
	return st
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return discardLogger
	}
	return s.Logger
}

var discardLogger = slog.New(slog.DiscardHandler)

// ListenAndServe listens on the TCP address addr (with TLS if TLSConfig is
// set) and serves it; for a UDP Protocol it listens for datagrams instead.
// There is no TLS over UDP: a UDP Protocol with TLSConfig set is refused
// with a *ConfigError rather than served in the clear.
func (s *Server) ListenAndServe(addr string) error {
	if s.Protocol != nil && s.Protocol.cfg.Transport == UDP {
		if s.TLSConfig != nil {
			return &ConfigError{Option: "Server.TLSConfig", Reason: "TLS is not available over UDP"}
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return s.ServePacket(pc)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

func (s *Server) init() error {
	if s.Protocol == nil {
		return &ConfigError{Option: "Server.Protocol", Reason: "not set"}
	}
	s.optsOnce.Do(func() {
		s.maxConns = s.MaxConnections
		switch {
		case s.maxConns == 0:
			s.maxConns = defaultMaxConnections()
		case s.maxConns < 0:
			s.maxConns = 0
		}
		s.opts = engineOptions(s.Protocol, s.logger(), &s.stats, s.Protocol.cfg.IdleTimeout, s.handshakeTimeout())
		switch {
		case s.MaxBufferedBytes == 0:
			s.opts.Budget = engine.NewBudget(DefaultMaxBufferedBytes)
		case s.MaxBufferedBytes > 0:
			s.opts.Budget = engine.NewBudget(int64(s.MaxBufferedBytes))
		}
		s.opts.Allowance = s.Protocol.cfg.BufferSize
		s.udpOpts = engineOptions(s.Protocol, s.logger(), &s.stats, 0, 0)
		s.obs = newObservation(s.Observer, SideServer, s.Protocol)
	})
	return nil
}

// Serve accepts connections on l and serves each on its own goroutine,
// until Shutdown or Close, when it returns ErrServerClosed. Temporary accept
// errors (out of file descriptors, say) are retried with a back-off, as
// net/http does. l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	if err := s.init(); err != nil {
		l.Close()
		return err
	}
	if err := s.checkServe(); err != nil {
		l.Close()
		return err
	}
	accept := s.serveConn
	switch {
	case s.proxied():
		accept = s.acceptProxied // proxy.go: the PROXY header first, then TLS
	case s.TLSConfig != nil:
		l = tls.NewListener(l, tlsFloor(s.TLSConfig))
	}
	err := s.conns.Serve(l, s.logger(), accept)
	if errors.Is(err, engine.ErrClosed) {
		return ErrServerClosed
	}
	return err
}

// ServeConn serves one already-accepted connection nc (from a listener of
// your own, a net.Pipe, a Unix socket...) and returns once it has closed.
// If TLSConfig is set and nc is not already a *tls.Conn, nc is wrapped as
// the server side of a TLS connection. MaxConnections, Shutdown and Close
// apply to it as to connections accepted by Serve; after Shutdown or Close
// nc is closed at once. So is nc when Serve would refuse the server's
// Auth or ProxyProtocol, with the *ConfigError logged. With ProxyProtocol
// on, nc's PROXY header is read first, on the calling goroutine, and a
// *tls.Conn is refused (the header comes before TLS: give the raw
// connection and set TLSConfig).
func (s *Server) ServeConn(nc net.Conn) {
	if err := s.init(); err != nil {
		nc.Close()
		return
	}
	if err := s.checkServe(); err != nil {
		s.logger().Error("binproto: connection refused", "remote", nc.RemoteAddr(), "err", err)
		nc.Close()
		return
	}
	if s.proxied() {
		s.serveConnProxied(nc) // proxy.go
		return
	}
	if _, ok := nc.(*tls.Conn); !ok && s.TLSConfig != nil {
		nc = tls.Server(nc, tlsFloor(s.TLSConfig))
	}
	if c := s.serveConn(nc); c != nil {
		c.Run()
	}
}

// serveConn registers nc and returns its engine, ready to run; or closes
// nc and returns nil when it is over MaxConnections (in all or from its
// address) or the server is closing.
func (s *Server) serveConn(nc net.Conn) *engine.Conn {
	if !s.reserveOrReject(nc) {
		return nil
	}
	return s.admitConn(nc)
}

// reserveOrReject reserves one of the MaxConnections slots for nc, or
// closes nc, counting it as rejected, and returns false.
func (s *Server) reserveOrReject(nc net.Conn) bool {
	if !s.reserveConn() {
		s.stats.Rejected.Add(1)
		s.stats.Closed(CloseLimit)
		s.observeRejected(nc, CloseLimit)
		nc.Close()
		return false
	}
	return true
}

// admitConn registers nc, which holds a slot of MaxConnections, and
// returns its engine, ready to run; or closes nc, gives the slot back and
// returns nil when it is over the limits of its address or the server is
// closing.
func (s *Server) admitConn(nc net.Conn) *engine.Conn {
	c := newConn(s.Protocol, nc, s.opts, func(c *Conn) engine.Dispatcher { return (*serverConn)(c) })
	c.srv, c.obs = s, s.obs
	if !s.secAdmit(c) { // connections per IP (security.go)
		s.slots.Add(-1)
		return nil
	}
	if !s.conns.Add(c.e) {
		nc.Close()
		s.secClosed(c)
		s.slots.Add(-1)
		return nil
	}
	s.stats.Active.Add(1) // counted once served: registered, so Broadcast reaches it
	s.stats.Accepted.Add(1)
	c.observeConn(ConnOpened, "", nil)
	return c.e
}

// reserveConn takes one of the MaxConnections slots unless none is free.
// The check and the increment are one atomic step, so that concurrent
// Serve and ServeConn calls cannot together go past the bound; whoever
// reserves and then does not serve gives the slot back.
func (s *Server) reserveConn() bool {
	for {
		n := s.slots.Load()
		if s.maxConns > 0 && n >= int64(s.maxConns) {
			return false
		}
		if s.slots.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Broadcast encodes out once and queues it on every TCP (and TLS)
// connection the server is serving: first on every connection with room in
// its outbound queue, then, waiting until ctx is done, on those whose queues
// were full, so that a slow subscriber delays no other. As with Conn.Send,
// the writes happen in the background. It returns the number of connections the
// message was queued on and the errors of the others, joined. An encoding
// error is returned alone, before anything is sent. UDP peers are not
// included: a packet server keeps no connections. Connections that have
// not yet authenticated (see Server.Auth), and those whose first bytes have
// not yet told their profile, are skipped.
func (s *Server) Broadcast(ctx context.Context, out Outgoing) (sent int, err error) {
	if err := s.init(); err != nil {
		return 0, err
	}
	buf := getBuffer(s.Protocol, 0)
	defer putBuffer(s.Protocol, buf)
	b, err := s.Protocol.AppendFrame((*buf)[:0], out)
	*buf = b
	if err != nil {
		return 0, err
	}
	// A native connection gets the message as a native push, encoded once,
	// for the first native connection met.
	var nb []byte
	var nerr error
	frame := func(e *engine.Conn) []byte {
		if !connOf(e).native {
			return b
		}
		if nb == nil && nerr == nil {
			nb, nerr = s.Protocol.appendNative(nil, &wire.NativeHeader{Kind: wire.KindMessage}, out)
		}
		return nb
	}
	conns := s.conns.Conns()
	// First every connection with room gets the message at once; only then
	// does Broadcast wait for those whose queues are full, so one slow
	// subscriber delays no other.
	var full []*engine.Conn
	var errList []error
	for _, e := range conns {
		if c := connOf(e); !c.decided.Load() || !c.authorized() {
			continue // its profile not yet known, or not authenticated yet (auth.go)
		}
		fb := frame(e)
		if fb == nil {
			return sent, nerr
		}
		queued, werr := e.TrySend(fb)
		switch {
		case werr != nil:
			errList = append(errList, fmt.Errorf("binproto: broadcast to %v: %w", e.NetConn().RemoteAddr(), werr))
			continue
		case !queued:
			full = append(full, e)
			continue
		}
		s.stats.Sent(len(fb))
		sent++
	}
	for _, e := range full {
		fb := frame(e)
		if werr := e.Writer().Send(ctx, fb); werr != nil {
			errList = append(errList, fmt.Errorf("binproto: broadcast to %v: %w", e.NetConn().RemoteAddr(), werr))
			continue
		}
		s.stats.Sent(len(fb))
		sent++
	}
	return sent, errors.Join(errList...)
}

// Shutdown stops the server gracefully: it closes the listeners, and
// every connection stops reading new frames within a short, fixed grace
// (frames already on their way are served), lets the handlers already
// running finish, writes their replies, then closes. A peer that keeps
// sending cannot hold it open. If ctx ends first it force-closes what is
// left and returns ctx.Err(). It returns nil once all connections are
// closed. Safe to call more than once and concurrently.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	defer s.sec.logs.flush(s.logger()) // the closes not yet logged (logsample.go)
	return s.conns.Shutdown(ctx, CloseShutdown, ErrServerClosed)
}

// Close closes the listeners and every connection at once and cancels the
// handlers' contexts. It does not wait for handlers that ignore their
// context. Safe to call more than once and concurrently.
func (s *Server) Close() error {
	if err := s.init(); err != nil {
		return err
	}
	s.conns.Close(CloseShutdown, ErrServerClosed)
	s.sec.logs.flush(s.logger()) // the closes not yet logged (logsample.go)
	return nil
}

// serverConn is the engine's Dispatcher for the server side of a
// connection.
type serverConn Conn

// connOf returns the Conn whose engine e is.
func connOf(e *engine.Conn) *Conn { return ConnFrom(e.Context()) }

// Begin implements engine.Dispatcher: authentication begins (auth.go).
// checkServe refuses to serve with options that cannot work together.
func (s *Server) checkServe() error {
	if err := s.checkAuth(); err != nil { // security.go
		return err
	}
	if err := s.checkProxy(); err != nil { // proxy.go
		return err
	}
	return s.checkNative() // native_protocol.go
}

func (sc *serverConn) Begin(*engine.Conn) error { return (*Conn)(sc).secStart() }

// appendOut appends the frame of a message sent on c in its profile: a
// native server connection sends it as the reply of the request being
// authenticated, if any, and as a push otherwise.
func (c *Conn) appendOut(dst []byte, out Outgoing) ([]byte, error) {
	if !c.native {
		return c.proto.AppendFrame(dst, out)
	}
	h := wire.NativeHeader{Kind: wire.KindMessage}
	if c.nat != nil && c.nat.authID != 0 {
		h = wire.NativeHeader{Kind: wire.KindReply, ID: c.nat.authID}
	}
	return c.proto.appendNative(dst, &h, out)
}

// Dispatch implements engine.Dispatcher.
func (sc *serverConn) Dispatch(_ *engine.Conn, fr wire.Frame) error {
	c := (*Conn)(sc)
	s := c.srv
	if fr.Kind != 0 {
		return s.dispatchNative(c, fr) // native_server.go
	}
	if done, err := s.screen(c, fr); done {
		return err // authentication, rate limits, validators (security.go)
	}
	t := MessageType(fr.Type)
	if t == s.Protocol.cfg.NotFoundType {
		return nil // a not-found message is never dispatched
	}
	c.e.Touch()
	h, _ := s.handlers.lookup(t)
	if h == nil {
		h = NotFoundHandler
	}
	return s.run(c, h, fr)
}

// run runs h for the frame: on the read goroutine, or concurrently with
// the connection's other handlers when MaxConcurrentHandlers allows. The
// handler of a datagram is guarded against amplification.
func (s *Server) run(c *Conn, h Handler, fr wire.Frame) error {
	if c.datagram {
		h = s.guardPacket(c, h, fr.Len)
	}
	if s.MaxConcurrentHandlers > 1 {
		return c.handleConcurrent(h, fr, s.MaxConcurrentHandlers)
	}
	return c.handle(h, fr)
}

// Arrived implements engine.Dispatcher: bytes count against the byte rates
// as they arrive.
func (sc *serverConn) Arrived(_ *engine.Conn, n int) { sc.srv.chargeArrived((*Conn)(sc), n) }

// UnknownType implements engine.Dispatcher: an unknown type is answered
// with NOT_FOUND before the connection closes, since its payload cannot be
// skipped; but not before the connection has authenticated: until then the
// server sends nothing but the authenticator's own messages, which would
// otherwise tell a scanner which types are configured.
func (sc *serverConn) UnknownType(*engine.Conn) {
	c := (*Conn)(sc)
	if !c.authorized() {
		return
	}
	nf := c.proto.framing.AppendNotFound(make([]byte, 0, 8))
	if err := c.e.Writer().Write(c.Context(), nf); err == nil {
		c.stats.Sent(len(nf))
	}
}

// Closed implements engine.Dispatcher.
func (sc *serverConn) Closed(_ *engine.Conn, reason CloseReason, err error) {
	c := (*Conn)(sc)
	s := c.srv
	var unknown *wire.UnknownTypeError
	if errors.As(err, &unknown) {
		s.stats.NotFound.Add(1)
		c.observeUnknown(unknown.Type, err)
		c.logClose(slog.LevelInfo, "binproto: unknown message type; answered NOT_FOUND and closed", CloseUnknownType, "type", unknown.Type, "remote", c.RemoteAddr())
	} else if err != nil && reason != ClosePeer && reason != CloseShutdown && reason != CloseLocal {
		c.logClose(slog.LevelInfo, "binproto: connection closed", reason, "remote", c.RemoteAddr(), "err", err) // sampled (logsample.go)
	}
	s.secClosed(c)
	s.stats.Active.Add(-1)
	s.slots.Add(-1)
	c.observeConn(ConnClosed, reason, err)
}

// tlsFloor returns cfg with MinVersion raised to TLS 1.2.
func tlsFloor(cfg *tls.Config) *tls.Config {
	if cfg.MinVersion >= tls.VersionTLS12 {
		return cfg
	}
	c := cfg.Clone()
	c.MinVersion = tls.VersionTLS12
	return c
}
