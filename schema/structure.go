package schema

import (
	"math"
	"slices"

	"github.com/binproto/binproto/wire"
)

// maxLength bounds fixed lengths and fixed structure sizes: every length on
// the wire is a 32-bit unsigned integer. It is an untyped constant larger
// than int on 32-bit platforms: compare it with uint64 values only, and use
// maxLengthInt where an int is needed.
const maxLength = math.MaxUint32

// maxLengthInt is maxLength capped to the platform's int.
const maxLengthInt = min(maxLength, math.MaxInt)

// Structure is a compiled message structure: an ordered list of fields with
// their layout computed once. A Structure is immutable and safe for
// concurrent use. Build one with [NewStructure] or [Codec.Structure].
type Structure struct {
	fields   []Field
	ops      []dynOp
	variable bool
	size     int
}

// dynCode is what the dynamic encoder does for one field.
type dynCode uint8

const (
	dynNum        dynCode = iota // a number in its format
	dynFixedStr                  // string padded to n bytes (fixed structures)
	dynFixedBytes                // bytes padded to n bytes (fixed structures)
	dynVarStr                    // u32 BE length + string; at most n bytes if n > 0
	dynVarBytes                  // u32 BE length + bytes; at most n bytes if n > 0
)

type dynOp struct {
	name   string
	code   dynCode
	format wire.Format
	n      int // fixed length, or the maximum length of a variable field (0: none)
}

// NewStructure validates fields and compiles them into a Structure. The
// error is a [*StructureError] naming the first offending field. A
// structure without fields is valid: fixed-length, of size 0.
func NewStructure(fields ...Field) (*Structure, error) {
	s := &Structure{fields: slices.Clone(fields), ops: make([]dynOp, len(fields))}
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		format, err := checkField(f)
		if err != nil {
			return nil, err
		}
		if seen[f.Name] {
			return nil, invalid(f.Name, ErrDuplicateName, "")
		}
		seen[f.Name] = true
		s.ops[i] = dynOp{name: f.Name, format: format, n: f.FixedLength}
		if f.Kind != KindNumber && f.FixedLength == 0 {
			s.variable = true
		}
	}
	var size uint64 // the running size, in uint64 so that it cannot overflow on 32-bit
	for i := range s.ops {
		op, f := &s.ops[i], fields[i]
		switch {
		case f.Kind == KindNumber:
			op.code = dynNum
			size += uint64(op.format.Size())
		case s.variable:
			op.code = dynVarStr
			if f.Kind == KindBytes {
				op.code = dynVarBytes
			}
			size += wire.LengthSize
		default:
			op.code = dynFixedStr
			if f.Kind == KindBytes {
				op.code = dynFixedBytes
			}
			size += uint64(f.FixedLength)
		}
		if size > maxLengthInt {
			return nil, invalid(f.Name, ErrFixedLength, "structure exceeds %d bytes", uint64(maxLengthInt))
		}
	}
	s.size = int(size)
	return s, nil
}

// checkField validates one field on its own and parses its format.
func checkField(f Field) (wire.Format, *StructureError) {
	if f.Name == "" {
		return wire.Format{}, invalid(f.Name, ErrEmptyName, "")
	}
	if f.FixedLength < 0 || uint64(f.FixedLength) > maxLength {
		return wire.Format{}, invalid(f.Name, ErrFixedLength, "%d", f.FixedLength)
	}
	switch f.Kind {
	case KindNumber:
		if f.Format == "" {
			return wire.Format{}, invalid(f.Name, ErrMissingFormat, "")
		}
		if f.FixedLength != 0 {
			return wire.Format{}, invalid(f.Name, ErrFixedLength, "fixed length %d on a number", f.FixedLength)
		}
		format, err := wire.ParseFormat(f.Format)
		if err != nil {
			return wire.Format{}, invalid(f.Name, err, "")
		}
		return format, nil
	case KindString, KindBytes:
		if f.Format != "" {
			return wire.Format{}, invalid(f.Name, ErrUnexpectedFormat, "%q on a %s field", f.Format, f.Kind)
		}
		return wire.Format{}, nil
	}
	return wire.Format{}, invalid(f.Name, ErrKind, "%v", f.Kind)
}

// MustStructure is like NewStructure but panics on error. It is meant for
// package-level variables.
func MustStructure(fields ...Field) *Structure {
	s, err := NewStructure(fields...)
	if err != nil {
		panic(err)
	}
	return s
}

// Fields returns a copy of the structure's fields, in order.
func (s *Structure) Fields() []Field { return slices.Clone(s.fields) }

// Variable reports whether the structure is variable-length: whether any
// string or bytes field has no fixed length. Frames of variable structures
// carry a payload length.
func (s *Structure) Variable() bool { return s.variable }

// Size returns the payload size of a fixed-length structure; for a variable
// one, the smallest payload size (every string and bytes field empty).
func (s *Structure) Size() int { return s.size }

// Shape returns the structure's shape, for building a wire.Shapes table.
func (s *Structure) Shape() wire.Shape { return wire.Shape{Variable: s.variable, Size: s.size} }

// SameLayout reports whether s and o put the same bytes on the wire for the
// same values and read them back the same way: the same number of fields
// and, field by field, the same kind, the same fixed length and, for
// numbers, the same size, class (signed, unsigned, float, bool) and byte
// order. Field names may differ — they never reach the wire — and so may
// format spellings with the same meaning (">i" and "!l", say). A nil
// structure has the same layout only as another nil one.
func (s *Structure) SameLayout(o *Structure) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s == o {
		return true
	}
	if s.variable != o.variable || s.size != o.size || len(s.ops) != len(o.ops) {
		return false
	}
	for i := range s.ops {
		a, b := &s.ops[i], &o.ops[i]
		if a.code != b.code || a.n != b.n {
			return false
		}
		if a.code == dynNum && !sameNumber(a.format, b.format) {
			return false
		}
	}
	return true
}

// sameNumber reports whether two number formats pack every value into the
// same bytes. Byte order does not matter for one-byte formats.
func sameNumber(a, b wire.Format) bool {
	if a.Size() != b.Size() || a.Class() != b.Class() {
		return false
	}
	return a.Size() == 1 || a.BigEndian() == b.BigEndian()
}
