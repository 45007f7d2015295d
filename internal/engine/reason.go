package engine

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"

	"github.com/binproto/binproto/wire"
)

// Reason says why a connection closed; the root package re-exports it as
// CloseReason, with these constants.
type Reason string

// The reasons a connection closes.
const (
	ReasonPeer         Reason = "peer"            // the peer closed or reset it
	ReasonLocal        Reason = "local"           // Close was called on it
	ReasonShutdown     Reason = "shutdown"        // the server shut down
	ReasonIdleTimeout  Reason = "idle_timeout"    // no frame began within the idle timeout
	ReasonReadTimeout  Reason = "read_timeout"    // a frame was not complete within the read timeout
	ReasonReadError    Reason = "read_error"      // another read error
	ReasonWriteError   Reason = "write_error"     // a write failed or timed out
	ReasonUnknownType  Reason = "unknown_type"    // a frame of an unconfigured type
	ReasonTooLarge     Reason = "too_large"       // a declared payload over the maximum
	ReasonChecksum     Reason = "checksum"        // a checksum mismatch
	ReasonMalformed    Reason = "malformed"       // an undecodable frame or TLS record
	ReasonHandlerError Reason = "handler_error"   // a handler returned an error
	ReasonHandlerPanic Reason = "handler_panic"   // a handler panicked
	ReasonLimit        Reason = "limit"           // refused: too many connections
	ReasonAuthFailed   Reason = "auth_failed"     // authentication failed
	ReasonAuthTimeout  Reason = "auth_timeout"    // not authenticated in time
	ReasonAuthLimit    Reason = "auth_limit"      // too many bytes before authenticating
	ReasonRateLimit    Reason = "rate_limit"      // over a rate limit
	ReasonInvalid      Reason = "invalid"         // a message rejected by its validator
	ReasonKeepalive    Reason = "keepalive"       // the peer answered no ping for two keepalive intervals
	ReasonProtocol     Reason = "protocol"        // a native frame that breaks the profile's rules
	ReasonMismatch     Reason = "config_mismatch" // a native peer with another configuration
	ReasonMaxAge       Reason = "max_age"         // MaxConnectionAge reached, drained
	ReasonProxyHeader  Reason = "proxy_header"    // a PROXY protocol header missing, malformed or from an untrusted source
)

// Reasons lists every Reason, in the order Counters counts them.
var Reasons = [...]Reason{
	ReasonPeer, ReasonLocal, ReasonShutdown, ReasonIdleTimeout, ReasonReadTimeout, ReasonReadError,
	ReasonWriteError, ReasonUnknownType, ReasonTooLarge, ReasonChecksum, ReasonMalformed,
	ReasonHandlerError, ReasonHandlerPanic, ReasonLimit,
	ReasonAuthFailed, ReasonAuthTimeout, ReasonAuthLimit, ReasonRateLimit, ReasonInvalid,
	ReasonKeepalive, ReasonProtocol, ReasonMismatch, ReasonMaxAge,
	ReasonProxyHeader,
}

// CloseError is an error that closes a connection for a given reason: a
// Dispatcher returns one to say why. Its text and chain are Err's.
type CloseError struct {
	Reason Reason
	Err    error
}

func (e *CloseError) Error() string { return e.Err.Error() }
func (e *CloseError) Unwrap() error { return e.Err }

// Close returns err as a *CloseError with reason r (nil for a nil err).
func Close(r Reason, err error) error {
	if err == nil {
		return nil
	}
	return &CloseError{Reason: r, Err: err}
}

// classify names the reason a read loop ended with err. buffered reports
// bytes of a frame begun and not completed; draining that the server was
// shutting down.
func classify(err error, buffered, draining bool) Reason {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	var unknown *wire.UnknownTypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return ReasonPeer
	case draining:
		return ReasonShutdown
	case errors.Is(err, os.ErrDeadlineExceeded):
		if buffered {
			return ReasonReadTimeout
		}
		return ReasonIdleTimeout
	case errors.As(err, &unknown):
		return ReasonUnknownType
	case errors.Is(err, wire.ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, wire.ErrChecksum):
		return ReasonChecksum
	case errors.Is(err, wire.ErrNativeKind):
		return ReasonProtocol
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonPeer
	case errors.Is(err, net.ErrClosed):
		return ReasonLocal
	}
	var tlsErr tls.RecordHeaderError
	if errors.As(err, &tlsErr) {
		return ReasonMalformed
	}
	return ReasonReadError
}
