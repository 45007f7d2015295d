package schema

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/binproto/binproto/wire"
)

// AppendPayload appends the payload of values to dst, laid out as
// docs/wire-format.md says: fields in order, numbers in their formats, strings and
// bytes padded to their fixed length or prefixed with their 32-bit length.
//
// Values are looked up by field name; keys that are not fields are ignored.
// A number field accepts any Go integer type, float32 and float64 (an
// integer format requires an integral value), and bool for the "?" format
// only; a string field accepts a string, a bytes field a []byte.
//
// The error is a [*FieldError] wrapping ErrMissingField, ErrType,
// ErrTooLong, ErrInvalidUTF8 or wire.ErrRange; dst is then returned
// unchanged.
func (s *Structure) AppendPayload(dst []byte, values map[string]any) ([]byte, error) {
	orig := dst
	start := len(dst)
	if !s.variable {
		dst = slices.Grow(dst, s.size)[:start+s.size]
	}
	for i := range s.ops {
		op := &s.ops[i]
		v, ok := values[op.name]
		if !ok {
			return orig, &FieldError{Field: op.name, Err: ErrMissingField}
		}
		var err error
		if s.variable {
			dst, err = op.appendVar(dst, v)
		} else {
			err = op.putFixed(dst[start:], v)
			start += op.fixedSize()
		}
		if err != nil {
			return orig, &FieldError{Field: op.name, Err: err}
		}
	}
	return dst, nil
}

// fixedSize returns the size of the field in a fixed structure.
func (op *dynOp) fixedSize() int {
	if op.code == dynNum {
		return op.format.Size()
	}
	return op.n
}

// putFixed stores v at the start of b, a field of a fixed structure.
func (op *dynOp) putFixed(b []byte, v any) error {
	switch op.code {
	case dynNum:
		return putNumber(b, op.format, v)
	case dynFixedStr:
		s, ok := v.(string)
		if !ok {
			return typeErr(v, "string")
		}
		if err := checkStr(s, op.n); err != nil {
			return err
		}
		clear(b[copy(b[:op.n], s):op.n])
	default: // dynFixedBytes
		p, ok := v.([]byte)
		if !ok {
			return typeErr(v, "[]byte")
		}
		if len(p) > op.n {
			return tooLong(len(p), op.n)
		}
		clear(b[copy(b[:op.n], p):op.n])
	}
	return nil
}

// appendVar appends v to dst, a field of a variable structure.
func (op *dynOp) appendVar(dst []byte, v any) ([]byte, error) {
	switch op.code {
	case dynNum:
		n := len(dst)
		dst = slices.Grow(dst, op.format.Size())[:n+op.format.Size()]
		return dst, putNumber(dst[n:], op.format, v)
	case dynVarStr:
		s, ok := v.(string)
		if !ok {
			return dst, typeErr(v, "string")
		}
		if err := checkStr(s, op.n); err != nil {
			return dst, err
		}
		return append(binary.BigEndian.AppendUint32(dst, uint32(len(s))), s...), nil
	default: // dynVarBytes
		p, ok := v.([]byte)
		if !ok {
			return dst, typeErr(v, "[]byte")
		}
		if err := checkLen(len(p), op.n); err != nil {
			return dst, err
		}
		return append(binary.BigEndian.AppendUint32(dst, uint32(len(p))), p...), nil
	}
}

// checkLen checks a string or bytes length against the field's fixed length
// (max, 0 for none) and against the 32-bit length prefix.
func checkLen(n, max int) error {
	if max > 0 && n > max {
		return tooLong(n, max)
	}
	if uint64(n) > maxLength {
		return tooLong(n, maxLengthInt)
	}
	return nil
}

func checkStr(s string, max int) error {
	if err := checkLen(len(s), max); err != nil {
		return err
	}
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	return nil
}

func tooLong(n, max int) error {
	return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrTooLong, n, max)
}

func typeErr(v any, want string) error {
	return fmt.Errorf("%w: got %T, want %s", ErrType, v, want)
}

// putNumber stores v at the start of b in format f.
func putNumber(b []byte, f wire.Format, v any) error {
	var bits uint64
	var err error
	switch x := v.(type) {
	case float64:
		bits, err = f.FloatBits(x)
	case float32:
		if f.Code() == 'f' {
			bits = uint64(math.Float32bits(x)) // exact, NaN payloads included
		} else {
			bits, err = f.FloatBits(float64(x))
		}
	case int:
		bits, err = intBits(f, int64(x))
	case int8:
		bits, err = intBits(f, int64(x))
	case int16:
		bits, err = intBits(f, int64(x))
	case int32:
		bits, err = intBits(f, int64(x))
	case int64:
		bits, err = intBits(f, x)
	case uint:
		bits, err = uintBits(f, uint64(x))
	case uint8:
		bits, err = uintBits(f, uint64(x))
	case uint16:
		bits, err = uintBits(f, uint64(x))
	case uint32:
		bits, err = uintBits(f, uint64(x))
	case uint64:
		bits, err = uintBits(f, x)
	case uintptr:
		bits, err = uintBits(f, uint64(x))
	case bool:
		if f.Class() != wire.ClassBool {
			return typeErr(v, fmt.Sprintf("a number for %q", f))
		}
		if x {
			bits = 1
		}
	default:
		return typeErr(v, fmt.Sprintf("a number for %q", f))
	}
	if err != nil {
		return err
	}
	f.PutBits(b, bits)
	return nil
}

func intBits(f wire.Format, v int64) (uint64, error) {
	if err := f.CheckInt(v); err != nil {
		return 0, err
	}
	return f.IntBits(v), nil
}

func uintBits(f wire.Format, v uint64) (uint64, error) {
	if err := f.CheckUint(v); err != nil {
		return 0, err
	}
	switch f.Class() {
	case wire.ClassFloat:
		return f.FloatBits(float64(v))
	case wire.ClassBool:
		if v != 0 {
			return 1, nil
		}
	}
	return v, nil
}

// DecodePayload decodes a whole payload into a map from field names to
// values: int64 for signed formats, uint64 for unsigned ones, float64 for
// float formats, bool for "?", string for strings and []byte for bytes.
// Strings and bytes are copies: p may be reused once DecodePayload returns.
//
// A fixed-length string ends at its first 0x00 byte; a fixed-length bytes
// value keeps all its bytes, padding included. The error is a [*FieldError]
// wrapping wire.ErrTruncated (p ends inside a field), wire.ErrLength (a
// length prefix runs past p), ErrTooLong (a length above the field's fixed
// length), ErrInvalidUTF8 or wire.ErrTrailingBytes.
func (s *Structure) DecodePayload(p []byte) (map[string]any, error) {
	if !s.variable && len(p) != s.size {
		return nil, s.sizeErr(len(p))
	}
	m := make(map[string]any, len(s.ops))
	pos := 0
	for i := range s.ops {
		op := &s.ops[i]
		if op.code == dynNum && len(p)-pos >= op.format.Size() {
			m[op.name] = number(op.format, p[pos:])
			pos += op.format.Size()
			continue
		}
		v, n, err := op.decode(p[pos:])
		if err != nil {
			return nil, &FieldError{Field: op.name, Err: err}
		}
		m[op.name] = v
		pos += n
	}
	if pos != len(p) {
		return nil, &FieldError{Err: trailing(len(p) - pos)}
	}
	return m, nil
}

// sizeErr reports a payload of n bytes given to a fixed structure: the
// field it ends in, or the bytes left over.
func (s *Structure) sizeErr(n int) error {
	if n > s.size {
		return &FieldError{Err: trailing(n - s.size)}
	}
	pos := 0
	for i := range s.ops {
		op := &s.ops[i]
		if size := op.fixedSize(); pos+size > n {
			return &FieldError{Field: op.name, Err: truncated(n-pos, size)}
		}
		pos += op.fixedSize()
	}
	return &FieldError{Err: truncated(n, s.size)}
}

// decode decodes the field at the start of p and returns its value and the
// number of bytes it took.
func (op *dynOp) decode(p []byte) (any, int, error) {
	switch op.code {
	case dynNum:
		size := op.format.Size()
		if len(p) < size {
			return nil, 0, truncated(len(p), size)
		}
		return number(op.format, p), size, nil
	case dynFixedStr, dynFixedBytes:
		if len(p) < op.n {
			return nil, 0, truncated(len(p), op.n)
		}
		if op.code == dynFixedBytes {
			return clone(p[:op.n]), op.n, nil
		}
		s, err := fixedStr(p[:op.n])
		return string(s), op.n, err
	}
	b, err := lengthPrefixed(p, op.n)
	if err != nil {
		return nil, 0, err
	}
	if op.code == dynVarBytes {
		return clone(b), wire.LengthSize + len(b), nil
	}
	if !utf8.Valid(b) {
		return nil, 0, ErrInvalidUTF8
	}
	return string(b), wire.LengthSize + len(b), nil
}

// number decodes a value of format f from the start of b.
func number(f wire.Format, b []byte) any {
	bits := f.Bits(b)
	switch f.Class() {
	case wire.ClassInt:
		shift := 64 - 8*uint(f.Size())
		return int64(bits<<shift) >> shift
	case wire.ClassUint:
		return bits
	case wire.ClassFloat:
		switch f.Size() {
		case 4:
			return float64(math.Float32frombits(uint32(bits)))
		case 8:
			return math.Float64frombits(bits)
		}
		return f.Float(b)
	}
	return bits != 0
}

// fixedStr returns the bytes of a fixed-length string up to its first 0x00,
// checked to be valid UTF-8.
func fixedStr(b []byte) ([]byte, error) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if !utf8.Valid(b) {
		return nil, ErrInvalidUTF8
	}
	return b, nil
}

// lengthPrefixed returns the value of a length-prefixed field at the start
// of p, whose length must not exceed max (0 for no limit).
func lengthPrefixed(p []byte, max int) ([]byte, error) {
	if len(p) < wire.LengthSize {
		return nil, truncated(len(p), wire.LengthSize)
	}
	n := uint64(binary.BigEndian.Uint32(p))
	p = p[wire.LengthSize:]
	if n > uint64(len(p)) {
		return nil, fmt.Errorf("%w: length %d, %d bytes left", wire.ErrLength, n, len(p))
	}
	if max > 0 && n > uint64(max) {
		return nil, tooLong(int(n), max)
	}
	return p[:n], nil
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

func truncated(have, want int) error {
	return fmt.Errorf("%w: %d bytes left, %d needed", wire.ErrTruncated, have, want)
}

func trailing(n int) error {
	return fmt.Errorf("%w: %d bytes after the last field", wire.ErrTrailingBytes, n)
}
