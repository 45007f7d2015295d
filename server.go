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
	// connection over the bound is closed at once and counted. Zero: no bound.
	MaxConnections int
	// MaxConcurrentHandlers lets up to this many handlers of one connection
	// run at once (replies still go out in request order). Zero or one:
	// handlers of a connection run one at a time, as in the Python package.
	MaxConcurrentHandlers int

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

	handlers handlerSet
	sec      serverSec // auth, rate limits, validators (security.go)
	stats    counters

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	packets   map[net.PacketConn]struct{}
	conns     map[*Conn]struct{}
	wg        sync.WaitGroup // read loops and packet loops
	closing   atomic.Bool
	stopped   chan struct{} // closed by Close or a Shutdown that gave up
	closeOnce sync.Once
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
func (s *Server) Stats() Stats { return s.stats.snapshot() }

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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped == nil {
		s.stopped = make(chan struct{})
		s.listeners = make(map[net.Listener]struct{})
		s.packets = make(map[net.PacketConn]struct{})
		s.conns = make(map[*Conn]struct{})
	}
	return nil
}

// Serve accepts connections on l and serves each on its own goroutine,
// until Shutdown or Close, when it returns ErrServerClosed. l is closed when
// Serve returns.
func (s *Server) Serve(l net.Listener) error {
	if err := s.init(); err != nil {
		return err
	}
	if err := s.checkAuth(); err != nil { // security.go
		l.Close()
		return err
	}
	if s.TLSConfig != nil {
		l = tls.NewListener(l, tlsFloor(s.TLSConfig))
	}
	if !s.track(l) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrack(l)
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if temporaryAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("binproto: accept error; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if c := s.serveConn(nc); c != nil {
			go c.readLoop()
		}
	}
}

// temporaryAcceptError reports whether Serve should back off and accept
// again after err, as net/http does: on a timeout, on running out of file
// descriptors, buffers or memory, on a connection aborted before it was
// accepted, and on any error that says it is Temporary.
func temporaryAcceptError(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, errno := range acceptRetryErrnos {
		if errors.Is(err, errno) {
			return true
		}
	}
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ServeConn serves one already-accepted connection nc (from a listener of
// your own, a net.Pipe, a Unix socket...) and returns once it has closed.
// If TLSConfig is set and nc is not already a *tls.Conn, nc is wrapped as
// the server side of a TLS connection. MaxConnections, Shutdown and Close
// apply to it as to connections accepted by Serve; after Shutdown or Close
// nc is closed at once. So is nc when Serve would refuse the server's
// Auth, with the *ConfigError logged.
func (s *Server) ServeConn(nc net.Conn) {
	if err := s.init(); err != nil {
		nc.Close()
		return
	}
	if err := s.checkAuth(); err != nil { // security.go
		s.logger().Error("binproto: connection refused", "remote", nc.RemoteAddr(), "err", err)
		nc.Close()
		return
	}
	if _, ok := nc.(*tls.Conn); !ok && s.TLSConfig != nil {
		nc = tls.Server(nc, tlsFloor(s.TLSConfig))
	}
	if c := s.serveConn(nc); c != nil {
		c.readLoop()
	}
}

// serveConn registers nc and returns its Conn, ready for its read loop; or
// closes nc and returns nil when it is over MaxConnections or the server is
// closing.
func (s *Server) serveConn(nc net.Conn) *Conn {
	if !s.reserveConn() {
		s.stats.rejected.Add(1)
		s.stats.closed(CloseLimit)
		nc.Close()
		return nil
	}
	c := newConn(s.Protocol, nc, s, s.logger(), &s.stats)
	c.idle = s.Protocol.cfg.IdleTimeout
	if !s.secAdmit(c) { // connections per IP (security.go)
		s.stats.active.Add(-1)
		return nil
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		s.secClosed(c)
		s.stats.active.Add(-1)
		return nil
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.accepted.Add(1)
	return c
}

// reserveConn counts one more active connection unless that would exceed
// MaxConnections. The check and the increment are one atomic step, so that
// concurrent Serve and ServeConn calls cannot together go past the bound;
// whoever reserves and then does not serve releases with active.Add(-1).
func (s *Server) reserveConn() bool {
	for {
		n := s.stats.active.Load()
		if s.MaxConnections > 0 && n >= int64(s.MaxConnections) {
			return false
		}
		if s.stats.active.CompareAndSwap(n, n+1) {
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
// not yet authenticated (see Server.Auth) are skipped.
func (s *Server) Broadcast(ctx context.Context, out Outgoing) (sent int, err error) {
	if err := s.init(); err != nil {
		return 0, err
	}
	buf := getBuffer(s.Protocol)
	defer putBuffer(s.Protocol, buf)
	b, err := s.Protocol.AppendFrame((*buf)[:0], out)
	*buf = b
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// First every connection with room gets the message at once; only then
	// does Broadcast wait for those whose queues are full, so one slow
	// subscriber delays no other.
	var full []*Conn
	var errList []error
	for _, c := range conns {
		if !c.authorized() {
			continue // not authenticated yet (auth.go)
		}
		queued, flush, werr := c.w.TryQueue(b, nil)
		switch {
		case werr != nil:
			errList = append(errList, fmt.Errorf("binproto: broadcast to %v: %w", c.RemoteAddr(), werr))
			continue
		case !queued:
			full = append(full, c)
			continue
		case flush:
			go c.w.Flush()
		}
		c.stats.sent(len(b))
		sent++
	}
	for _, c := range full {
		if werr := c.w.Send(ctx, b); werr != nil {
			errList = append(errList, fmt.Errorf("binproto: broadcast to %v: %w", c.RemoteAddr(), werr))
			continue
		}
		c.stats.sent(len(b))
		sent++
	}
	return sent, errors.Join(errList...)
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrack(l net.Listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
	l.Close()
}

// dispatch implements peer for the server side of a connection.
func (s *Server) dispatch(c *Conn, fr wire.Frame) (CloseReason, error) {
	if done, reason, err := s.screen(c, fr); done {
		return reason, err // authentication, rate limits, validators (security.go)
	}
	t := MessageType(fr.Type)
	if t == s.Protocol.cfg.NotFoundType {
		return "", nil // a not-found message is never dispatched
	}
	h, _ := s.handlers.lookup(t)
	if h == nil {
		h = NotFoundHandler
	}
	if s.MaxConcurrentHandlers > 1 {
		return c.handleConcurrent(h, fr, s.MaxConcurrentHandlers)
	}
	return c.handle(h, fr)
}

// unknownType implements peer: an unknown type is answered with NOT_FOUND
// before the connection closes, since its payload cannot be skipped.
func (s *Server) unknownType(c *Conn) {
	nf := s.Protocol.framing.AppendNotFound(make([]byte, 0, 8))
	if err := c.w.Write(c.ctx, nf); err == nil {
		s.stats.sent(len(nf))
	}
}

// closed implements peer.
func (s *Server) closed(c *Conn, err error) {
	var unknown *wire.UnknownTypeError
	if errors.As(err, &unknown) {
		s.stats.notFound.Add(1)
		c.log.Info("binproto: unknown message type; answered NOT_FOUND and closed", "type", unknown.Type, "remote", c.nc.RemoteAddr())
	} else if err != nil && c.reason != ClosePeer && c.reason != CloseShutdown && c.reason != CloseLocal {
		c.log.Info("binproto: connection closed", "reason", c.reason, "remote", c.nc.RemoteAddr(), "err", err)
	}
	c.waitHandlers()
	s.secClosed(c)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.active.Add(-1)
	s.wg.Done()
}

// Shutdown stops the server gracefully: it closes the listeners, lets
// in-flight handlers finish and their replies flush, serves the frames
// already received, then closes each connection. If ctx ends first it
// force-closes what is left and returns ctx.Err(). It returns nil once all
// connections are closed. Safe to call more than once and concurrently.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	s.beginClose()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.drainConns()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			s.forceClose()
			return ctx.Err()
		case <-s.stopped:
			// Close ran meanwhile: the connections are closing; report
			// nil once they are gone, as a completed drain would.
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once and cancels the
// handlers' contexts. It does not wait for handlers that ignore their
// context. Safe to call more than once and concurrently.
func (s *Server) Close() error {
	if err := s.init(); err != nil {
		return err
	}
	s.beginClose()
	s.forceClose()
	return nil
}

func (s *Server) beginClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for pc := range s.packets {
		pc.Close()
	}
}

// drainConns asks every connection to finish what it has received; it is
// repeated until they are gone, which also catches a read loop that re-armed
// its deadline just after the previous request.
func (s *Server) drainConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.startDrain()
	}
}

func (s *Server) forceClose() {
	s.closeOnce.Do(func() { close(s.stopped) })
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(CloseShutdown, ErrServerClosed)
	}
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
