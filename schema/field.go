package schema

import "strconv"

// Kind is the kind of value a field holds. The zero Kind is invalid.
type Kind uint8

// The kinds of fields. The names carry a Kind prefix, as in log/slog, so
// that they do not collide with the Bytes constructor.
const (
	KindNumber Kind = iota + 1 // a number packed with a struct format
	KindString                 // a UTF-8 string
	KindBytes                  // raw bytes
)

// String returns "number", "string" or "bytes".
func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindBytes:
		return "bytes"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Field describes one field of a structure, in the terms of the Python
// package: a name, a kind, a struct format for numbers and an optional fixed
// length for strings and bytes.
type Field struct {
	Name        string
	Kind        Kind   // KindNumber, KindString or KindBytes
	Format      string // struct format of a number, e.g. ">f", "<I", "!q", "?"; empty otherwise
	FixedLength int    // strings and bytes: 0 for variable length, > 0 for a fixed length
}

// Num returns a number field packed with format, a one-number struct
// format such as ">f", "<I", "!q" or "?".
func Num(name, format string) Field { return Field{Name: name, Kind: KindNumber, Format: format} }

// Str returns a variable-length UTF-8 string field.
func Str(name string) Field { return Field{Name: name, Kind: KindString} }

// FixedStr returns a UTF-8 string field of n bytes, right-padded with 0x00.
func FixedStr(name string, n int) Field {
	return Field{Name: name, Kind: KindString, FixedLength: n}
}

// Bytes returns a variable-length bytes field.
func Bytes(name string) Field { return Field{Name: name, Kind: KindBytes} }

// FixedBytes returns a bytes field of n bytes, right-padded with 0x00.
func FixedBytes(name string, n int) Field {
	return Field{Name: name, Kind: KindBytes, FixedLength: n}
}

// Int8 returns a number field with format ">b".
func Int8(name string) Field { return Num(name, ">b") }

// Int16 returns a number field with format ">h".
func Int16(name string) Field { return Num(name, ">h") }

// Int32 returns a number field with format ">i".
func Int32(name string) Field { return Num(name, ">i") }

// Int64 returns a number field with format ">q".
func Int64(name string) Field { return Num(name, ">q") }

// Uint8 returns a number field with format ">B".
func Uint8(name string) Field { return Num(name, ">B") }

// Uint16 returns a number field with format ">H".
func Uint16(name string) Field { return Num(name, ">H") }

// Uint32 returns a number field with format ">I".
func Uint32(name string) Field { return Num(name, ">I") }

// Uint64 returns a number field with format ">Q".
func Uint64(name string) Field { return Num(name, ">Q") }

// Float16 returns a number field with format ">e" (IEEE 754 half precision).
func Float16(name string) Field { return Num(name, ">e") }

// Float32 returns a number field with format ">f".
func Float32(name string) Field { return Num(name, ">f") }

// Float64 returns a number field with format ">d".
func Float64(name string) Field { return Num(name, ">d") }

// Bool returns a number field with format "?" (one byte, 0 or 1).
func Bool(name string) Field { return Num(name, "?") }
