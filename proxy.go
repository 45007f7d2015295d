package binproto

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/internal/proxyproto"
)

// ProxyMode says which connections of a server begin with a PROXY protocol
// header (see ProxyProtocol).
type ProxyMode int

// The modes of ProxyProtocol.
const (
	// ProxyOff: no connection carries a header (the default). A header a
	// peer sends is read as frames, and fails as such.
	ProxyOff ProxyMode = iota
	// ProxyRequired: every connection must begin with a header, version
	// 1 or 2, from any source. For a server that only a balancer can
	// reach.
	ProxyRequired
	// ProxyTrusted: a connection from a source in ProxyProtocol.Trusted
	// must begin with a header; one from any other source is served as a
	// direct client, with its own address, and is closed if it begins
	// with a PROXY header (its first read begins with a signature), so
	// that nobody but the balancers can claim another address.
	ProxyTrusted
)

// String returns the mode's name, as `binproto serve --proxy-protocol`
// takes it.
func (m ProxyMode) String() string {
	switch m {
	case ProxyOff:
		return "off"
	case ProxyRequired:
		return "required"
	case ProxyTrusted:
		return "trusted"
	}
	return fmt.Sprintf("ProxyMode(%d)", int(m))
}

// ProxyProtocol configures the PROXY protocol (versions 1 and 2, HAProxy's
// send-proxy and send-proxy-v2), with which a TCP load balancer in front
// of the server tells it the address of each client it relays. The zero
// value is off.
//
// The header is read on the connection's own goroutine, never on the
// accept loop, before anything else: before the TLS handshake (a balancer
// in TCP mode sends it ahead of the ClientHello) and before the server
// writes anything (HMACAuth's challenge included). A balancer that sends
// the header only once the client has sent its first bytes therefore
// cannot front a server whose authenticator speaks first (HMACAuth): the
// client would wait for the challenge and the server for the header, until
// Timeout. HAProxy sends it at once.
//
// The client's address from the header is the connection's address
// everywhere: Conn.RemoteAddr, logs, the per-IP limits of RateLimit
// (MaxConnsPerIP and IPConnRate are applied once the header is read),
// AuthFailures. A LOCAL header (a balancer's health check with
// check-send-proxy) or one of an unsupported family keeps the connection's
// own address. A missing, malformed or refused header closes the
// connection, counted in Stats.Closes as CloseProxyHeader; one that does
// not come within Timeout as CloseReadTimeout, one that never comes (the
// peer closes or resets the connection first: a balancer's plain TCP
// health check) as ClosePeer, silently.
type ProxyProtocol struct {
	// Mode says which connections must begin with a header.
	Mode ProxyMode
	// Trusted lists the balancers' source networks, for ProxyTrusted
	// (required then, and refused with any other mode).
	Trusted []netip.Prefix
	// Timeout bounds the time from the accept to the end of the header.
	// Default: Server.HandshakeTimeout's (10 s), and 10 s when that is
	// none; negative: none.
	Timeout time.Duration
}

// ErrProxyHeader is the error (wrapped) a connection closes with when its
// PROXY protocol header is missing, malformed, or sent from an untrusted
// source.
var ErrProxyHeader = errors.New("binproto: PROXY protocol header refused")

// proxied reports whether connections may carry a PROXY header.
func (s *Server) proxied() bool { return s.ProxyProtocol.Mode != ProxyOff }

// checkProxy refuses, before serving, a ProxyProtocol that is not valid.
func (s *Server) checkProxy() error {
	pp := &s.ProxyProtocol
	switch pp.Mode {
	case ProxyOff, ProxyRequired:
		if len(pp.Trusted) > 0 {
			return &ConfigError{Option: "Server.ProxyProtocol.Trusted", Reason: "set with mode " + pp.Mode.String() + "; it applies to ProxyTrusted only"}
		}
	case ProxyTrusted:
		if len(pp.Trusted) == 0 {
			return &ConfigError{Option: "Server.ProxyProtocol.Trusted", Reason: "ProxyTrusted needs at least one trusted network"}
		}
	default:
		return &ConfigError{Option: "Server.ProxyProtocol.Mode", Reason: pp.Mode.String() + " is not a mode"}
	}
	for _, p := range pp.Trusted {
		if !p.IsValid() {
			return &ConfigError{Option: "Server.ProxyProtocol.Trusted", Reason: fmt.Sprintf("%v is not a valid network", p)}
		}
	}
	return nil
}

// proxyTimeout resolves ProxyProtocol.Timeout (0: none).
func (s *Server) proxyTimeout() time.Duration {
	switch t := s.ProxyProtocol.Timeout; {
	case t < 0:
		return 0
	case t > 0:
		return t
	}
	if t := s.handshakeTimeout(); t > 0 {
		return t
	}
	return DefaultHandshakeTimeout
}

// headerExpected reports whether a connection from a must begin with a
// header (ProxyRequired, or a trusted source with ProxyTrusted).
func (pp *ProxyProtocol) headerExpected(a net.Addr) bool {
	if pp.Mode != ProxyTrusted {
		return true
	}
	ap, ok := addrPortOf(a) // ratelimit.go
	if !ok {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range pp.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// serveProxied serves nc, a connection of a server with ProxyProtocol on,
// one of whose slots of MaxConnections it holds. A connection expected to
// begin with a header reads it in Group.Prepare (on a goroutine of its
// own when async is set, on the caller's otherwise) and runs there; nil
// is returned. Any other (from an untrusted source) is returned ready to
// run, or nil when it was refused.
func (s *Server) serveProxied(nc net.Conn, async bool) *engine.Conn {
	if !s.ProxyProtocol.headerExpected(nc.RemoteAddr()) {
		return s.admitConn(s.withTLS(newProxiedConn(nc, proxiedState{refuse: true})))
	}
	var pc net.Conn
	read := func() bool { pc = s.readProxyHeader(nc); return pc != nil }
	admit := func() *engine.Conn { return s.admitConn(s.withTLS(pc)) }
	if !s.conns.Prepare(nc, s.proxyTimeout(), async, read, admit) {
		nc.Close()
		s.slots.Add(-1)
	}
	return nil
}

// acceptProxied is the accept function of Serve with ProxyProtocol on.
func (s *Server) acceptProxied(nc net.Conn) *engine.Conn {
	if !s.reserveOrReject(nc) {
		return nil
	}
	return s.serveProxied(nc, true)
}

// readProxyHeader reads nc's header, within the deadline of Group.Prepare, and
// returns nc as the header describes it: its client's address, and the
// bytes read past the header first. A connection whose header fails is
// closed, counted, and nil returned.
func (s *Server) readProxyHeader(nc net.Conn) net.Conn {
	h, rest, err := proxyproto.Read(nc)
	if err != nil {
		reason := CloseProxyHeader
		switch {
		case s.conns.Closing():
			reason = CloseShutdown
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			reason = ClosePeer // a plain TCP health check: connect, then close or reset
		case errors.Is(err, os.ErrDeadlineExceeded):
			reason = CloseReadTimeout
		}
		s.refuseProxied(nc, reason, err)
		return nil
	}
	var remote net.Addr
	if h.HasAddress() {
		remote = net.TCPAddrFromAddrPort(h.Source)
	}
	// A LOCAL header is the balancer's own connection, usually a health
	// check, which HAProxy ends with a reset.
	return newProxiedConn(nc, proxiedState{remote: remote, rest: rest, healthCheck: h.Command == proxyproto.Local})
}

// refuseProxied closes nc, whose header failed with err, counting it as a
// close for reason; it gives its slot back.
func (s *Server) refuseProxied(nc net.Conn, reason CloseReason, err error) {
	nc.Close()
	s.slots.Add(-1)
	s.stats.Closed(reason)
	if reason == CloseProxyHeader {
		s.sec.logs.log(s.logger(), slog.LevelInfo, "binproto: PROXY protocol header refused; closing", reason, "remote", nc.RemoteAddr(), "err", err) // sampled (logsample.go)
	}
}

// withTLS wraps nc as the server side of a TLS connection when the server
// has a TLSConfig.
func (s *Server) withTLS(nc net.Conn) net.Conn {
	if s.TLSConfig == nil {
		return nc
	}
	return tls.Server(nc, tlsFloor(s.TLSConfig))
}

// newProxiedConn returns nc as seen through its PROXY header, as p says;
// nc itself when p changes nothing. A *net.TCPConn keeps its vectored
// writes.
func newProxiedConn(nc net.Conn, p proxiedState) net.Conn {
	if p.remote == nil && len(p.rest) == 0 && !p.refuse && !p.healthCheck {
		return nc
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		return &proxiedTCPConn{TCPConn: tc, p: p}
	}
	return &proxiedConn{Conn: nc, p: p}
}

// proxiedState is what a PROXY header changes in a connection. Owned by
// the connection's reader, but remote, which does not change.
type proxiedState struct {
	remote net.Addr // the client's address; nil: the connection's own
	rest   []byte   // bytes read past the header, not yet returned
	// refuse: the first read must not begin with a PROXY signature.
	refuse bool
	// healthCheck: a reset before the first byte is a peer close
	// (ClosePeer, not logged), not a read error: HAProxy's health checks
	// send a LOCAL header, then reset.
	healthCheck bool
}

func (p *proxiedState) read(nc net.Conn, b []byte) (int, error) {
	if len(p.rest) > 0 {
		n := copy(b, p.rest)
		p.rest = p.rest[n:]
		if len(p.rest) == 0 {
			p.rest = nil
		}
		return n, nil
	}
	n, err := nc.Read(b)
	if p.healthCheck {
		p.healthCheck = false
		if n == 0 && errors.Is(err, syscall.ECONNRESET) {
			return 0, engine.Close(ClosePeer, err)
		}
	}
	if p.refuse && n > 0 {
		p.refuse = false
		if proxyproto.HasSignature(b[:n]) {
			return 0, engine.Close(CloseProxyHeader, fmt.Errorf("%w: from %v, not a trusted source", ErrProxyHeader, nc.RemoteAddr()))
		}
	}
	return n, err
}

func (p *proxiedState) remoteAddr(nc net.Conn) net.Addr {
	if p.remote != nil {
		return p.remote
	}
	return nc.RemoteAddr()
}

// proxiedTCPConn is a *net.TCPConn seen through its PROXY header. The
// embedded *net.TCPConn keeps its methods, vectored writes and CloseWrite
// included.
type proxiedTCPConn struct {
	*net.TCPConn
	p proxiedState
}

func (c *proxiedTCPConn) Read(b []byte) (int, error) { return c.p.read(c.TCPConn, b) }
func (c *proxiedTCPConn) RemoteAddr() net.Addr       { return c.p.remoteAddr(c.TCPConn) }

// proxiedConn is any other net.Conn seen through its PROXY header.
type proxiedConn struct {
	net.Conn
	p proxiedState
}

func (c *proxiedConn) Read(b []byte) (int, error) { return c.p.read(c.Conn, b) }
func (c *proxiedConn) RemoteAddr() net.Addr       { return c.p.remoteAddr(c.Conn) }

// CloseWrite half-closes the connection if it can (a Unix socket), for
// the graceful close of the engine.
func (c *proxiedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// serveConnProxied is ServeConn with ProxyProtocol on: nc runs on the
// caller's goroutine. The header comes before TLS, so a *tls.Conn cannot
// carry one: it is refused.
func (s *Server) serveConnProxied(nc net.Conn) {
	if _, ok := nc.(*tls.Conn); ok {
		s.logger().Error("binproto: connection refused", "remote", nc.RemoteAddr(), "err", &ConfigError{Option: "Server.ProxyProtocol", Reason: "a *tls.Conn given to ServeConn cannot carry a PROXY header; give the raw connection and set TLSConfig"})
		nc.Close()
		return
	}
	if !s.reserveOrReject(nc) {
		return
	}
	if c := s.serveProxied(nc, false); c != nil {
		c.Run()
	}
}
