package binproto

import (
	"errors"
	"fmt"
	"strings"

	"github.com/binproto/binproto/internal/conn"
	"github.com/binproto/binproto/wire"
)

// Errors callers branch on with errors.Is. Errors from the wire and schema
// packages are the same values, re-exported here.
var (
	ErrFormat        = wire.ErrFormat        // a struct format string is invalid
	ErrRange         = wire.ErrRange         // a value does not fit its format
	ErrTruncated     = wire.ErrTruncated     // input ends inside a value or frame
	ErrTooLarge      = wire.ErrTooLarge      // a payload exceeds MaxPayloadSize
	ErrChecksum      = wire.ErrChecksum      // a frame's checksum does not match
	ErrUnknownType   = wire.ErrUnknownType   // a message type has no structure
	ErrTrailingBytes = wire.ErrTrailingBytes // bytes follow a complete frame or payload
	ErrLength        = wire.ErrLength        // an inner length runs past its frame

	// ErrInvalidConfig reports a Config that NewProtocol rejects.
	ErrInvalidConfig = errors.New("binproto: invalid config")
	// ErrServerClosed is returned by Serve, ServePacket and ListenAndServe
	// after Shutdown or Close.
	ErrServerClosed = errors.New("binproto: server closed")
	// ErrClientClosed is returned by calls on a Client after Close.
	ErrClientClosed = errors.New("binproto: client closed")
	// ErrConnClosed is returned by calls that needed a connection that has
	// closed; errors.Is(err, net.ErrClosed) holds for it too.
	ErrConnClosed = conn.ErrWriterClosed
	// ErrNotFound is reached through a *NotFoundError: the peer answered a
	// request with the not-found message.
	ErrNotFound = errors.New("binproto: peer has no handler for the message type")
	// ErrStructureMismatch reports a typed codec used for a message type
	// whose configured structure has a different shape.
	ErrStructureMismatch = errors.New("binproto: codec does not match the configured structure")
)

// ConfigError reports an invalid Config; it wraps ErrInvalidConfig and, where
// there is one, the underlying cause.
type ConfigError struct {
	Option string // the Config field at fault, e.g. "HeaderFormat"
	Reason string
	Err    error // optional cause
}

// Error describes the option at fault and why.
func (e *ConfigError) Error() string {
	s := fmt.Sprintf("binproto: invalid config: %s: %s", e.Option, e.Reason)
	if e.Err != nil {
		s += ": " + unprefixed(e.Err)
	}
	return s
}

// Unwrap returns ErrInvalidConfig and the cause.
func (e *ConfigError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidConfig}
	}
	return []error{ErrInvalidConfig, e.Err}
}

// NotFoundError is returned by a request whose reply was the not-found
// message. It wraps ErrNotFound.
type NotFoundError struct {
	Type MessageType // the type of the request that was not found
}

// Error names the message type that was not found.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("binproto: peer has no handler for message type %d", e.Type)
}

// Unwrap returns ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// UnexpectedReplyError is returned by a request answered with a message of
// a type that is not one of its reply types (see Config.Replies and
// Client). Only that request fails; the requests after it are not shifted.
type UnexpectedReplyError struct {
	Request MessageType // the type of the request
	Reply   MessageType // the type of the message that came instead of its reply
}

// Error names both types.
func (e *UnexpectedReplyError) Error() string {
	return fmt.Sprintf("binproto: a request of type %d was answered with type %d, not one of its reply types (declare it in Config.Replies, or the push in Config.Pushes)", e.Request, e.Reply)
}

// wrapError adds context to a cause. It reads "binproto: context: cause",
// with kind's text in place of "binproto" when kind is set, and without
// repeating the "binproto: " the cause's own text starts with:
// "binproto: authentication failed: connection closed: EOF" rather than
// "binproto: authentication failed: binproto: connection closed: EOF".
// errors.Is and errors.As see kind and the cause.
type wrapError struct {
	kind    error  // a sentinel that leads the text, or nil
	context string // what failed, such as "message type 7"; may be empty
	err     error  // the cause
}

// Error composes kind, context and the cause.
func (e *wrapError) Error() string {
	s := "binproto"
	if e.kind != nil {
		s = e.kind.Error()
	}
	if e.context != "" {
		s += ": " + e.context
	}
	return s + ": " + unprefixed(e.err)
}

// Unwrap returns kind, when set, and the cause.
func (e *wrapError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// unprefixed returns the text of err without the "binproto: " that errors of
// binproto and its packages start with, for use inside another one's text.
func unprefixed(err error) string { return strings.TrimPrefix(err.Error(), "binproto: ") }
