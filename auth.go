package binproto

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/internal/engine"

	"github.com/binproto/binproto/wire"
)

// Authentication defaults, applied to zero Server fields.
const (
	// DefaultAuthTimeout bounds the time a connection has to authenticate.
	DefaultAuthTimeout = 5 * time.Second
	// DefaultMaxPreAuthBytes bounds the bytes a connection may send before
	// it has authenticated.
	DefaultMaxPreAuthBytes = 16 << 10
)

// Errors of authentication.
var (
	// ErrAuthFailed reports a failed authentication: on the server, the
	// error a connection closes with (CloseAuthFailed); on the client, the
	// error Dial and the Authenticate methods wrap.
	ErrAuthFailed = errors.New("binproto: authentication failed")
	// ErrAuthTimeout is the error a connection that did not authenticate
	// within Server.AuthTimeout closes with (CloseAuthTimeout).
	ErrAuthTimeout = errors.New("binproto: authentication timed out")
	// ErrPreAuthLimit is the error a connection that sent more than
	// Server.MaxPreAuthBytes before authenticating closes with
	// (CloseAuthLimit).
	ErrPreAuthLimit = errors.New("binproto: too many bytes before authentication")
)

// The methods of the built-in authenticators, as found in Identity.Method.
const (
	AuthMethodToken = "token" // TokenAuth: a shared token (API key)
	AuthMethodHMAC  = "hmac"  // HMACAuth: HMAC-SHA256 challenge-response
	AuthMethodTLS   = "tls"   // TLSAuth: a verified client certificate
)

// Identity is who a connection authenticated as.
type Identity struct {
	// Method names the authenticator: AuthMethodToken, AuthMethodHMAC,
	// AuthMethodTLS, or a custom authenticator's own name.
	Method string
	// Name is the authenticated principal: the name of the token, the HMAC
	// client id, or the certificate's subject common name (its first DNS,
	// URI, e-mail or IP subject alternative name when the CN is empty).
	Name string
	// Certificate is the verified client certificate of a mutual-TLS
	// connection, nil otherwise.
	Certificate *x509.Certificate
}

// Authenticator authenticates the connections of a Server (Server.Auth)
// before any handler sees their messages.
//
// Begin runs once per connection, on its read goroutine, after the TLS
// handshake and before any frame is read. Its result either authenticates
// the connection at once (mutual TLS), or sends a challenge and names the
// step that judges the first frame. Each frame the peer sends until it is
// authenticated goes to the current step, never to a handler; a step that
// returns an error closes the connection (CloseAuthFailed) without a reply.
// Besides, the server closes a connection that has not authenticated within
// Server.AuthTimeout (CloseAuthTimeout) or has sent more than
// Server.MaxPreAuthBytes (CloseAuthLimit). The failures of each client
// address are throttled (Server.AuthFailures): after a few, its next
// connections wait for their turn or are refused.
//
// Keep per-connection state (a nonce) in the closures of the steps. An
// Authenticator must be safe for concurrent use: Begin runs for every
// connection at once.
type Authenticator interface {
	Begin(ctx context.Context, c *Conn) (AuthResult, error)
}

// AuthStep judges one frame a peer sent before it authenticated. m is valid
// only until the step returns.
type AuthStep func(ctx context.Context, m *Message) (AuthResult, error)

// AuthResult is what Authenticator.Begin or an AuthStep decided.
type AuthResult struct {
	// Identity, when not nil, authenticates the connection: its later
	// frames go to the handlers.
	Identity *Identity
	// Reply, unless zero, is sent to the peer first: a challenge, or an
	// acknowledgement of success.
	Reply Outgoing
	// Next judges the next frame when Identity is nil. A result with
	// neither fails the authentication.
	Next AuthStep
}

// AuthFunc adapts a function to the Authenticator interface.
type AuthFunc func(ctx context.Context, c *Conn) (AuthResult, error)

// Begin calls f(ctx, c).
func (f AuthFunc) Begin(ctx context.Context, c *Conn) (AuthResult, error) { return f(ctx, c) }

// Identity returns the identity the connection authenticated as, and false
// when it has not authenticated (or its server has no Authenticator).
func (c *Conn) Identity() (Identity, bool) {
	if c.sec == nil {
		return Identity{}, false
	}
	if id := c.sec.identity.Load(); id != nil {
		return *id, true
	}
	return Identity{}, false
}

// connKey is the context key under which a Conn's context holds the Conn.
type connKey struct{}

// ConnFrom returns the connection whose handler context ctx is (or derives
// from), or nil.
func ConnFrom(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}

// IdentityFrom returns the authenticated identity of the connection whose
// handler context ctx is (or derives from); false if there is none.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	if c := ConnFrom(ctx); c != nil {
		return c.Identity()
	}
	return Identity{}, false
}

// connSec is the security state of one server connection: authentication
// and per-connection rate limits. Conns of servers without Auth or rate
// limits, and of clients, have none.
type connSec struct {
	authOn   bool                     // the server has an Authenticator; set before the read loop
	authed   atomic.Bool              // authenticated (also read by the timeout's goroutine)
	identity atomic.Pointer[Identity] // set once, when authenticated
	ip       *ipEntry                 // the client address's limits, or nil

	// Owned by the read goroutine (for a UDP peer: by its ServePacket loop).
	next         AuthStep
	stopTimer    func() bool // stops the authentication timeout
	rate         *rateState  // per-connection buckets, or nil
	authReserved bool        // holds a reserved turn of its address's failure budget (auththrottle.go)
}

// pendingAuth reports whether frames must still go to the authenticator.
func (sec *connSec) pendingAuth() bool { return sec != nil && sec.authOn && !sec.authed.Load() }

// secStart begins the authentication of a server connection; it runs on the
// read goroutine after the TLS handshake, before anything is read. Reads
// are counted against the pre-authentication byte budget until the
// connection authenticates.
func (c *Conn) secStart() error {
	if !c.sec.pendingAuth() {
		return c.negotiate()
	}
	s, sec := c.srv, c.sec
	if err := s.authGate(c); err != nil { // failed authentications of the address (auththrottle.go)
		return err
	}
	c.e.LimitReads(s.sec.preAuthBytes, min(s.sec.preAuthBytes, c.proto.cfg.MaxPayloadSize), ErrPreAuthLimit)
	if d := s.sec.authTimeout; d > 0 {
		sec.stopTimer = c.e.CloseAfter(d, CloseAuthTimeout, ErrAuthTimeout, func() bool { return !sec.authed.Load() })
	}
	res, err := runAuth(func() (AuthResult, error) { return s.Auth.Begin(c.Context(), c) })
	// The profile is told (native_server.go) before the authenticator's
	// first message, if any, goes out: it is framed in the client's.
	if nerr := c.negotiate(); nerr != nil {
		return nerr
	}
	if err != nil {
		if c.native {
			c.sendError(0, &Error{Code: CodeUnauthenticated, Message: "authentication failed"})
		}
		return s.authFailed(c, err)
	}
	return s.applyAuth(c, res)
}

// runAuth calls f, turning a panic into an error.
func runAuth(f func() (AuthResult, error)) (res AuthResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("authenticator panicked: %v", r)
		}
	}()
	return f()
}

// authFrame hands a frame received before authentication to the current
// step.
func (s *Server) authFrame(c *Conn, fr wire.Frame) error {
	if err := s.authGate(c); err != nil { // auththrottle.go
		return err
	}
	c.e.Touch()
	c.msg = Message{Type: MessageType(fr.Type), Payload: fr.Payload, Conn: c, proto: c.proto}
	step := c.sec.next
	res, err := runAuth(func() (AuthResult, error) { return step(c.Context(), &c.msg) })
	c.msg.Payload = nil
	if err != nil {
		c.logClose(slog.LevelInfo, "binproto: authentication failed", CloseAuthFailed, "remote", c.RemoteAddr(), "err", err)
		return s.authFailed(c, err)
	}
	return s.applyAuth(c, res)
}

// applyAuth acts on an authenticator's decision.
func (s *Server) applyAuth(c *Conn, res AuthResult) error {
	sec := c.sec
	switch {
	case res.Identity != nil:
		id := *res.Identity
		sec.identity.Store(&id)
		sec.authed.Store(true)
		sec.next = nil
		c.e.Unlimit(c.proto.cfg.MaxPayloadSize)
		if sec.stopTimer != nil {
			sec.stopTimer()
		}
		s.stats.Authenticated.Add(1)
		c.observeConn(ConnAuthenticated, "", nil)
		s.authSettled(c, false)
	case res.Next != nil:
		sec.next = res.Next
	default:
		return s.authFailed(c, fmt.Errorf("%w: the authenticator reached no decision", ErrAuthFailed))
	}
	if res.Reply.IsZero() {
		return nil
	}
	if err := c.Send(c.Context(), res.Reply); err != nil {
		return engine.Close(CloseWriteError, &wrapError{context: "sending an authentication message", err: err})
	}
	return nil
}

// authorized reports whether the server may send c unsolicited messages:
// it is authenticated, or its server has no Authenticator.
func (c *Conn) authorized() bool { return !c.sec.pendingAuth() }
