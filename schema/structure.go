package schema

import (
	"math"
	"slices"

	"github.com/binproto/binproto/wire"
)

// maxLength bounds fixed lengths and fixed structure sizes: every length on
// the wire is a 32-bit unsigned integer.
const maxLength = math.MaxUint32

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
	for i := range s.ops {
		op, f := &s.ops[i], fields[i]
		switch {
		case f.Kind == KindNumber:
			op.code = dynNum
			s.size += op.format.Size()
		case s.variable:
			op.code = dynVarStr
			if f.Kind == KindBytes {
				op.code = dynVarBytes
			}
			s.size += wire.LengthSize
		default:
			op.code = dynFixedStr
			if f.Kind == KindBytes {
				op.code = dynFixedBytes
			}
			s.size += f.FixedLength
		}
		if s.size > maxLength {
			return nil, invalid(f.Name, ErrFixedLength, "structure exceeds %d bytes", maxLength)
		}
	}
	return s, nil
}

// checkField validates one field on its own and parses its format.
func checkField(f Field) (wire.Format, *StructureError) {
	if f.Name == "" {
		return wire.Format{}, invalid(f.Name, ErrEmptyName, "")
	}
	if f.FixedLength < 0 || f.FixedLength > maxLength {
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
