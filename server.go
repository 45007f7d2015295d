package binproto

import (
	"context"
	"crypto/tls"
	"errors"
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

	handlers handlerSet
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
func (s *Server) ListenAndServe(addr string) error {
	if s.Protocol != nil && s.Protocol.cfg.Transport == UDP {
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
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("binproto: accept error; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.serveConn(nc)
	}
}

func (s *Server) serveConn(nc net.Conn) {
	if s.MaxConnections > 0 && s.stats.active.Load() >= int64(s.MaxConnections) {
		s.stats.rejected.Add(1)
		s.stats.closed(CloseLimit)
		nc.Close()
		return
	}
	c := newConn(s.Protocol, nc, s, s.logger(), &s.stats)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.accepted.Add(1)
	s.stats.active.Add(1)
	go c.readLoop()
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

// closed implements peer: an unknown type is answered with NOT_FOUND before
// the connection closes, since its payload cannot be skipped.
func (s *Server) closed(c *Conn, err error) {
	var unknown *wire.UnknownTypeError
	if errors.As(err, &unknown) {
		s.stats.notFound.Add(1)
		c.log.Info("binproto: unknown message type; answering NOT_FOUND and closing", "type", unknown.Type, "remote", c.nc.RemoteAddr())
		s.writeFinal(c, s.Protocol.framing.AppendNotFound(nil))
	} else if err != nil && c.reason != ClosePeer && c.reason != CloseShutdown && c.reason != CloseLocal {
		c.log.Info("binproto: connection closed", "reason", c.reason, "remote", c.nc.RemoteAddr(), "err", err)
	}
	c.waitHandlers()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.active.Add(-1)
	s.wg.Done()
}

// writeFinal writes b straight to a connection that is being closed.
func (s *Server) writeFinal(c *Conn, b []byte) {
	if t := s.Protocol.cfg.WriteTimeout; t > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	if n, err := c.nc.Write(b); err == nil {
		c.stats.sent(n)
	}
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
			return nil
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
