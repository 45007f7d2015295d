package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on them with errors.Is; the errors returned
// by this package wrap them with detail.
var (
	// ErrFormat reports a struct format string binproto does not accept,
	// or malformed bytes of the native profile (a frame, a uvarint, meta
	// entries, a preface or a configuration description).
	ErrFormat = errors.New("binproto: invalid format")
	// ErrRange reports a value that does not fit its number format.
	ErrRange = errors.New("binproto: value out of range")
	// ErrTruncated reports input that ends before a complete value or frame.
	ErrTruncated = errors.New("binproto: truncated input")
	// ErrTooLarge reports a payload whose length exceeds the maximum payload size.
	ErrTooLarge = errors.New("binproto: payload too large")
	// ErrChecksum reports a frame whose checksum trailer does not match.
	ErrChecksum = errors.New("binproto: checksum mismatch")
	// ErrUnknownType reports a message type with no structure in the configuration.
	ErrUnknownType = errors.New("binproto: unknown message type")
	// ErrTrailingBytes reports bytes left over after a complete frame or payload.
	ErrTrailingBytes = errors.New("binproto: trailing bytes")
	// ErrLength reports an inner length prefix that runs past its frame.
	ErrLength = errors.New("binproto: length runs past the frame")
	// ErrNotNative reports a connection whose first bytes are not the
	// native profile's preface magic.
	ErrNotNative = errors.New("binproto: peer does not speak the native profile")
	// ErrNativeVersion reports a native preface of a version other than
	// NativeVersion.
	ErrNativeVersion = errors.New("binproto: unsupported native profile version")
	// ErrNativeKind reports a native frame of a kind this version does not
	// define: a protocol error after which the connection closes.
	ErrNativeKind = errors.New("binproto: unknown native frame kind")
)

// UnknownTypeError is returned when a frame carries a message type that the
// framing does not know. It wraps ErrUnknownType.
type UnknownTypeError struct {
	Type uint64 // the message type read from the header
}

// Error returns "binproto: unknown message type" and the type.
func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("binproto: unknown message type %d", e.Type)
}

// Unwrap returns ErrUnknownType.
func (e *UnknownTypeError) Unwrap() error { return ErrUnknownType }

// TooLargeError is returned when a declared or encoded payload length exceeds
// the maximum payload size. It wraps ErrTooLarge.
type TooLargeError struct {
	Type   uint64 // the message type of the frame
	Length uint64 // the declared or encoded length
	Max    int    // the configured maximum
}

// Error names the message type, the length and the maximum it exceeds.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("binproto: message type %d: payload of %d bytes exceeds the maximum of %d", e.Type, e.Length, e.Max)
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }
