package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of structure validation. A [StructureError] wraps
// ErrInvalidStructure and one of the more specific errors below (or an
// error wrapping wire.ErrFormat), so that errors.Is matches both.
var (
	// ErrInvalidStructure is wrapped by every error of NewStructure and NewCodec.
	ErrInvalidStructure = errors.New("binproto: invalid structure")

	// ErrEmptyName reports a field without a name.
	ErrEmptyName = errors.New("empty field name")
	// ErrDuplicateName reports two fields with the same name.
	ErrDuplicateName = errors.New("duplicate field name")
	// ErrKind reports a field whose Kind is not KindNumber, KindString or KindBytes.
	ErrKind = errors.New("invalid field kind")
	// ErrMissingFormat reports a number field without a format.
	ErrMissingFormat = errors.New("number field without a format")
	// ErrUnexpectedFormat reports a format on a string or bytes field.
	ErrUnexpectedFormat = errors.New("format on a string or bytes field")
	// ErrFixedLength reports a negative or too large fixed length, or a fixed
	// length on a number field.
	ErrFixedLength = errors.New("invalid fixed length")
	// ErrGoType reports a Go type that cannot hold its field, or that
	// binproto does not support.
	ErrGoType = errors.New("unsupported Go type")
	// ErrTag reports a malformed binproto struct tag.
	ErrTag = errors.New("malformed struct tag")
	// ErrUnexported reports a tagged struct field that is not exported.
	ErrUnexported = errors.New("tagged field is not exported")
)

// Errors of encoding and decoding payloads, wrapped by [FieldError]. The
// sentinels of package wire (ErrRange, ErrTruncated, ErrLength,
// ErrTrailingBytes) are used as well.
var (
	// ErrType reports a value whose Go type does not suit its field.
	ErrType = errors.New("binproto: wrong value type")
	// ErrMissingField reports a field absent from the values to encode.
	ErrMissingField = errors.New("binproto: missing field")
	// ErrTooLong reports a string or bytes value longer than its fixed
	// length (or than 2³²-1 bytes).
	ErrTooLong = errors.New("binproto: value longer than its fixed length")
	// ErrInvalidUTF8 reports a string field that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("binproto: invalid UTF-8")
)

// StructureError reports an invalid structure definition: a Field given to
// NewStructure or a tagged struct field given to NewCodec. Err wraps
// ErrInvalidStructure and the specific error.
type StructureError struct {
	Field string // the field name (for NewCodec, the Go field name); empty for the whole structure
	Err   error
}

// Error names the field and says what is wrong with it.
func (e *StructureError) Error() string {
	msg := e.Err.Error()
	if e.Field == "" {
		return msg
	}
	// msg starts with ErrInvalidStructure's text; name the field after it.
	rest, ok := strings.CutPrefix(msg, ErrInvalidStructure.Error()+": ")
	if !ok {
		return fmt.Sprintf("%s: field %q: %s", ErrInvalidStructure, e.Field, msg)
	}
	return fmt.Sprintf("%s: field %q: %s", ErrInvalidStructure, e.Field, trimPrefix(rest))
}

// Unwrap returns Err.
func (e *StructureError) Unwrap() error { return e.Err }

// invalid returns a StructureError for field wrapping ErrInvalidStructure
// and cause, followed by detail.
func invalid(field string, cause error, format string, args ...any) *StructureError {
	err := fmt.Errorf("%w: %w", ErrInvalidStructure, cause)
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{err}, args...)...)
	}
	return &StructureError{Field: field, Err: err}
}

// FieldError reports an error encoding or decoding one field of a payload.
// Field is empty for errors about the payload as a whole, such as trailing
// bytes.
type FieldError struct {
	Field string // the field name
	Err   error
}

// Error names the field and says what is wrong with its value.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return "binproto: payload: " + trimPrefix(e.Err.Error())
	}
	return fmt.Sprintf("binproto: field %q: %s", e.Field, trimPrefix(e.Err.Error()))
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

func trimPrefix(msg string) string { return strings.TrimPrefix(msg, "binproto: ") }
