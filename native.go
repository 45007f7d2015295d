package binproto

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/binproto/binproto/wire"
)

// Profile is a wire profile: how the messages of a Protocol are framed on a
// connection. A server serves both on one port; a client picks one.
type Profile uint8

const (
	// ProfileCompatible is the framing of the Python package
	// binary_protocol, byte for byte: no request ids, replies in request
	// order, errors as closed connections. The default.
	ProfileCompatible Profile = iota
	// ProfileNative is binproto's own framing (docs/wire-format.md): a
	// preface that checks both ends have the same configuration, request
	// ids with replies in any order and handlers of one connection running
	// concurrently, error frames with codes, deadlines and cancellation on
	// the wire, keepalive pings and a goaway frame when a server drains.
	ProfileNative
)

// String returns "compatible" or "native".
func (p Profile) String() string {
	switch p {
	case ProfileCompatible:
		return "compatible"
	case ProfileNative:
		return "native"
	}
	return fmt.Sprintf("Profile(%d)", uint8(p))
}

// Code is the code of an error frame of the native profile: one of the
// Code constants below. Its String method names it ("invalid").
type Code = wire.Code

// The codes of error frames.
const (
	CodeNotFound         = wire.CodeNotFound         // no handler for the type
	CodeInvalid          = wire.CodeInvalid          // the payload is malformed or a validator refused it
	CodeUnauthenticated  = wire.CodeUnauthenticated  // not authenticated, or authentication failed
	CodeRateLimited      = wire.CodeRateLimited      // over a rate limit: retry later
	CodeUnavailable      = wire.CodeUnavailable      // draining or overloaded: retry later, elsewhere
	CodeDeadlineExceeded = wire.CodeDeadlineExceeded // the request's deadline passed on the server
	CodeInternal         = wire.CodeInternal         // the handler failed or panicked
	CodeCanceled         = wire.CodeCanceled         // the request was cancelled
	CodeConfigMismatch   = wire.CodeConfigMismatch   // the peers' configurations differ
	CodeProtocol         = wire.CodeProtocol         // a frame broke the profile's rules
	CodeTooLarge         = wire.CodeTooLarge         // a message over the maximum payload
)

// Error is an error frame of the native profile: what the server said went
// wrong with one request (or with the connection). Reach it with errors.As;
// errors.Is matches it to the package's sentinels of the same meaning
// (ErrNotFound, ErrInvalidMessage, ErrAuthFailed, ErrRateLimited,
// context.DeadlineExceeded, context.Canceled). A handler may return one to
// choose the code its caller sees: see Errorf.
type Error struct {
	Code    Code   // what went wrong
	Message string // the server's text
	// NotProcessed reports that the server did not process the request (it
	// refused it before any handler ran, or never read it): sending it
	// again is safe even if it is not idempotent.
	NotProcessed bool
}

// Errorf returns an *Error with code and a formatted message, for a handler
// to return.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error returns "binproto: ", the code's name and the message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("binproto: ")
	b.WriteString(e.Code.String())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.NotProcessed {
		b.WriteString(" (not processed)")
	}
	return b.String()
}

// Retryable reports whether sending the request again may succeed and is
// safe: the server did not process it and refused it for a passing reason
// (rate limited, unavailable: draining or overloaded).
func (e *Error) Retryable() bool {
	return e.NotProcessed && (e.Code == CodeRateLimited || e.Code == CodeUnavailable)
}

// Is matches e to the sentinel of the same meaning.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == CodeNotFound
	case ErrInvalidMessage:
		return e.Code == CodeInvalid
	case ErrAuthFailed:
		return e.Code == CodeUnauthenticated
	case ErrRateLimited:
		return e.Code == CodeRateLimited
	case ErrTooLarge:
		return e.Code == CodeTooLarge
	case context.DeadlineExceeded:
		return e.Code == CodeDeadlineExceeded
	case context.Canceled:
		return e.Code == CodeCanceled
	}
	return false
}

// ErrNotNative is the error of a native client whose server does not
// speak the native profile (a compatible-only peer, such as the Python
// package): set ClientOptions.Fallback to fall back to the compatible one.
var ErrNotNative = wire.ErrNotNative

// ErrNoReply is the error of a request of the native profile whose handler
// returned NoReply.
var ErrNoReply = errors.New("binproto: the handler sent no reply")

// ConfigMismatchError is the error of Dial, for a native client whose
// server has another configuration (types, fields, header format,
// checksum, not-found type); the server closes the connection.
type ConfigMismatchError struct {
	// Differences names each difference, from the client's side:
	// "header format: local \">H\", peer \">I\"".
	Differences []string
}

// Error lists the differences.
func (e *ConfigMismatchError) Error() string {
	return "binproto: the server's configuration differs: " + strings.Join(e.Differences, "; ")
}

// NativeOptions configure the native profile on a server. The zero value
// serves it with the defaults below.
type NativeOptions struct {
	// Disable serves the compatible profile only: a native preface is then
	// an unknown message type.
	Disable bool
	// MaxConcurrentStreams bounds the requests of one connection that run
	// at once; one more is answered with a retryable CodeUnavailable error,
	// not processed. Default DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int
	// Keepalive is the interval of the server's pings on a connection it
	// hears nothing from; a peer silent for two intervals is closed
	// (CloseKeepalive). Zero: no pings (the client's pings, answered,
	// still keep a connection out of the idle timeout).
	Keepalive time.Duration
	// MaxConnectionAge drains a connection once it is this old (give or
	// take a tenth, at random, so that connections made together do not
	// drain together): a goaway frame, then the connection closes as soon
	// as its requests are done, or after MaxConnectionAgeGrace. Clients
	// reconnect, and load balancers can rebalance. Zero: no limit.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace bounds how long a connection past its age may
	// finish its requests. Default DefaultMaxConnectionAgeGrace.
	MaxConnectionAgeGrace time.Duration
	// SniffWait is how long a server waits for a new connection's first
	// bytes before it takes the client for a compatible one: a native
	// client opens with its preface at once, but a compatible one may send
	// nothing until the server speaks (an authenticator's challenge, a
	// push), and until the profile is known the server sends nothing.
	// Raise it for native clients on links slower than that. Default
	// DefaultSniffWait.
	SniffWait time.Duration
}

// MinKeepalive is the shortest keepalive interval: a shorter
// ClientOptions.Keepalive or NativeOptions.Keepalive is raised to it, so
// that pings stay within what a server answers (a client pinging faster is
// closed with CloseRateLimit).
const MinKeepalive = 100 * time.Millisecond

// Defaults of NativeOptions.
const (
	DefaultMaxConcurrentStreams  = 256
	DefaultMaxConnectionAgeGrace = 10 * time.Second
	DefaultSniffWait             = 100 * time.Millisecond
)

func (o *NativeOptions) maxStreams() int {
	if o.MaxConcurrentStreams <= 0 {
		return DefaultMaxConcurrentStreams
	}
	return o.MaxConcurrentStreams
}

func (o *NativeOptions) grace() time.Duration {
	if o.MaxConnectionAgeGrace <= 0 {
		return DefaultMaxConnectionAgeGrace
	}
	return o.MaxConnectionAgeGrace
}

func (o *NativeOptions) sniffWait() time.Duration {
	if o.SniffWait <= 0 {
		return DefaultSniffWait
	}
	return o.SniffWait
}
