package schema

import (
	"encoding/binary"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/binproto/binproto/wire"
)

// opCode is what the typed encoder and decoder do for one field. The codes
// are chosen once, when a Codec is built, so that the hot loop is a switch
// over a small integer with straight loads and stores in each case.
type opCode uint8

const (
	opRaw1       opCode = iota // 1-byte integer held by a 1-byte Go integer
	opRaw2BE                   // 2-byte value held by a Go value of the same size and class
	opRaw2LE                   //
	opRaw4BE                   // e.g. float32 with ">f", uint32 with ">I", int32 with ">i"
	opRaw4LE                   //
	opRaw8BE                   //
	opRaw8LE                   //
	opBool                     // bool with "?"
	opInt                      // Go signed integer wider than its format: range checked
	opUint                     // Go unsigned integer wider than its format: range checked
	opFloat                    // Go float with another float format ("e", or float64 with "f")
	opStrFixed                 // string padded to n bytes (fixed structures)
	opStrVar                   // string with a length prefix, at most n bytes if n > 0
	opBytesFixed               // []byte padded to n bytes (fixed structures)
	opBytesVar                 // []byte with a length prefix, at most n bytes if n > 0
	opArrayFixed               // [n]byte stored as is (fixed structures)
	opArrayVar                 // [n]byte with a length prefix (variable structures)
)

// op is one field of a typed plan.
type op struct {
	code   opCode
	width  uint8   // size of the Go value, for opInt, opUint and opFloat
	off    uintptr // offset of the Go field in the struct
	n      int     // fixed length
	format wire.Format
	name   string
}

// plan is the compiled form of a Go struct type: the ops in wire order.
type plan struct {
	ops      []op
	varOps   []int // indexes of the ops whose encoded size depends on the value
	variable bool
	size     int // fixed payload size; for variable plans, the part that does not depend on values
	s        *Structure
}

// appendPayload appends the payload of the struct at base to dst.
func (pl *plan) appendPayload(dst []byte, base unsafe.Pointer) ([]byte, error) {
	size := pl.size
	for _, i := range pl.varOps {
		o := &pl.ops[i]
		n := o.varLen(unsafe.Add(base, o.off))
		if err := checkLen(n, o.n); err != nil {
			return dst, &FieldError{Field: o.name, Err: err}
		}
		size += n
	}
	start := len(dst)
	out := slices.Grow(dst, size)[:start+size]
	if err := pl.encode(out[start:], base); err != nil {
		return dst, err
	}
	return out, nil
}

// varLen returns the length of the string or []byte at p.
func (o *op) varLen(p unsafe.Pointer) int {
	if o.code == opStrVar {
		return len(*(*string)(p))
	}
	return len(*(*[]byte)(p))
}

// encode writes the payload into b, which has exactly the payload's size.
func (pl *plan) encode(b []byte, base unsafe.Pointer) error {
	pos := 0
	for i := range pl.ops {
		o := &pl.ops[i]
		p := unsafe.Add(base, o.off)
		q := b[pos:]
		switch o.code {
		case opRaw1:
			q[0] = *(*uint8)(p)
			pos++
		case opRaw2BE:
			binary.BigEndian.PutUint16(q, *(*uint16)(p))
			pos += 2
		case opRaw2LE:
			binary.LittleEndian.PutUint16(q, *(*uint16)(p))
			pos += 2
		case opRaw4BE:
			binary.BigEndian.PutUint32(q, *(*uint32)(p))
			pos += 4
		case opRaw4LE:
			binary.LittleEndian.PutUint32(q, *(*uint32)(p))
			pos += 4
		case opRaw8BE:
			binary.BigEndian.PutUint64(q, *(*uint64)(p))
			pos += 8
		case opRaw8LE:
			binary.LittleEndian.PutUint64(q, *(*uint64)(p))
			pos += 8
		case opBool:
			q[0] = 0
			if *(*bool)(p) {
				q[0] = 1
			}
			pos++
		case opStrVar:
			s := *(*string)(p)
			if !utf8.ValidString(s) {
				return &FieldError{Field: o.name, Err: ErrInvalidUTF8}
			}
			binary.BigEndian.PutUint32(q, uint32(len(s)))
			pos += wire.LengthSize + copy(q[wire.LengthSize:], s)
		case opBytesVar:
			s := *(*[]byte)(p)
			binary.BigEndian.PutUint32(q, uint32(len(s)))
			pos += wire.LengthSize + copy(q[wire.LengthSize:], s)
		default:
			n, err := o.encodeSlow(q, p)
			if err != nil {
				return &FieldError{Field: o.name, Err: err}
			}
			pos += n
		}
	}
	return nil
}

// encodeSlow handles the less common ops; it returns the bytes written.
func (o *op) encodeSlow(q []byte, p unsafe.Pointer) (int, error) {
	switch o.code {
	case opInt:
		v := loadInt(p, o.width)
		if err := o.format.CheckInt(v); err != nil {
			return 0, err
		}
		o.format.PutBits(q, o.format.IntBits(v))
		return o.format.Size(), nil
	case opUint:
		v := loadUint(p, o.width)
		if err := o.format.CheckUint(v); err != nil {
			return 0, err
		}
		o.format.PutBits(q, v)
		return o.format.Size(), nil
	case opFloat:
		x := *(*float64)(p)
		if o.width == 4 {
			x = float64(*(*float32)(p))
		}
		bits, err := o.format.FloatBits(x)
		if err != nil {
			return 0, err
		}
		o.format.PutBits(q, bits)
		return o.format.Size(), nil
	case opStrFixed:
		s := *(*string)(p)
		if err := checkStr(s, o.n); err != nil {
			return 0, err
		}
		clear(q[copy(q[:o.n], s):o.n])
	case opBytesFixed:
		s := *(*[]byte)(p)
		if len(s) > o.n {
			return 0, tooLong(len(s), o.n)
		}
		clear(q[copy(q[:o.n], s):o.n])
	case opArrayFixed:
		copy(q[:o.n], unsafe.Slice((*byte)(p), o.n))
	case opArrayVar:
		binary.BigEndian.PutUint32(q, uint32(o.n))
		copy(q[wire.LengthSize:], unsafe.Slice((*byte)(p), o.n))
		return wire.LengthSize + o.n, nil
	}
	return o.n, nil
}

func loadInt(p unsafe.Pointer, width uint8) int64 {
	switch width {
	case 1:
		return int64(*(*int8)(p))
	case 2:
		return int64(*(*int16)(p))
	case 4:
		return int64(*(*int32)(p))
	}
	return *(*int64)(p)
}

func loadUint(p unsafe.Pointer, width uint8) uint64 {
	switch width {
	case 1:
		return uint64(*(*uint8)(p))
	case 2:
		return uint64(*(*uint16)(p))
	case 4:
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

// storeInt stores the low width bytes of v at p.
func storeInt(p unsafe.Pointer, width uint8, v uint64) {
	switch width {
	case 1:
		*(*uint8)(p) = uint8(v)
	case 2:
		*(*uint16)(p) = uint16(v)
	case 4:
		*(*uint32)(p) = uint32(v)
	default:
		*(*uint64)(p) = v
	}
}

// decode decodes payload b into the struct at base. With alias set, string
// and []byte fields point into b instead of holding copies.
func (pl *plan) decode(b []byte, base unsafe.Pointer, alias bool) error {
	if !pl.variable && len(b) != pl.size {
		return pl.sizeErr(len(b))
	}
	pos := 0
	for i := range pl.ops {
		o := &pl.ops[i]
		p := unsafe.Add(base, o.off)
		q := b[pos:]
		switch o.code {
		case opRaw4BE:
			if len(q) < 4 {
				return o.truncated(len(q), 4)
			}
			*(*uint32)(p) = binary.BigEndian.Uint32(q)
			pos += 4
		case opRaw8BE:
			if len(q) < 8 {
				return o.truncated(len(q), 8)
			}
			*(*uint64)(p) = binary.BigEndian.Uint64(q)
			pos += 8
		case opStrVar:
			s, err := lengthPrefixed(q, o.n)
			if err != nil {
				return &FieldError{Field: o.name, Err: err}
			}
			if !utf8.Valid(s) {
				return &FieldError{Field: o.name, Err: ErrInvalidUTF8}
			}
			*(*string)(p) = makeString(s, alias)
			pos += wire.LengthSize + len(s)
		default:
			n, err := o.decodeSlow(q, p, alias)
			if err != nil {
				return &FieldError{Field: o.name, Err: err}
			}
			pos += n
		}
	}
	if pos != len(b) {
		return &FieldError{Err: trailing(len(b) - pos)}
	}
	return nil
}

func (o *op) truncated(have, want int) error {
	return &FieldError{Field: o.name, Err: truncated(have, want)}
}

// sizeErr reports a payload of n bytes given to a fixed plan.
func (pl *plan) sizeErr(n int) error {
	if n > pl.size {
		return &FieldError{Err: trailing(n - pl.size)}
	}
	pos := 0
	for i := range pl.ops {
		o := &pl.ops[i]
		size := o.n
		if o.code < opStrFixed {
			size = o.format.Size()
		}
		if pos+size > n {
			return o.truncated(n-pos, size)
		}
		pos += size
	}
	return &FieldError{Err: truncated(n, pl.size)}
}

// decodeSlow handles the less common ops; it returns the bytes read.
func (o *op) decodeSlow(q []byte, p unsafe.Pointer, alias bool) (int, error) {
	switch o.code {
	case opStrVar, opBytesVar, opArrayVar, opStrFixed, opBytesFixed, opArrayFixed:
		return o.decodeSlice(q, p, alias)
	}
	size := o.format.Size()
	if len(q) < size {
		return 0, truncated(len(q), size)
	}
	switch o.code {
	case opRaw1:
		*(*uint8)(p) = q[0]
	case opRaw2BE:
		*(*uint16)(p) = binary.BigEndian.Uint16(q)
	case opRaw2LE:
		*(*uint16)(p) = binary.LittleEndian.Uint16(q)
	case opRaw4BE:
		*(*uint32)(p) = binary.BigEndian.Uint32(q)
	case opRaw4LE:
		*(*uint32)(p) = binary.LittleEndian.Uint32(q)
	case opRaw8BE:
		*(*uint64)(p) = binary.BigEndian.Uint64(q)
	case opRaw8LE:
		*(*uint64)(p) = binary.LittleEndian.Uint64(q)
	case opBool:
		*(*bool)(p) = q[0] != 0
	case opInt:
		storeInt(p, o.width, uint64(o.format.Int(q)))
	case opUint:
		storeInt(p, o.width, o.format.Bits(q))
	case opFloat:
		if o.width == 4 {
			*(*float32)(p) = float32(o.format.Float(q))
		} else {
			*(*float64)(p) = o.format.Float(q)
		}
	}
	return size, nil
}

// decodeSlice decodes a string, []byte or [n]byte field.
func (o *op) decodeSlice(q []byte, p unsafe.Pointer, alias bool) (int, error) {
	var s []byte
	var n int
	switch o.code {
	case opStrFixed, opBytesFixed, opArrayFixed:
		if len(q) < o.n {
			return 0, truncated(len(q), o.n)
		}
		s, n = q[:o.n:o.n], o.n
	default:
		var err error
		if s, err = lengthPrefixed(q, o.n); err != nil {
			return 0, err
		}
		n = wire.LengthSize + len(s)
	}
	switch o.code {
	case opStrFixed, opStrVar:
		if o.code == opStrFixed {
			var err error
			if s, err = fixedStr(s); err != nil {
				return 0, err
			}
		} else if !utf8.Valid(s) {
			return 0, ErrInvalidUTF8
		}
		*(*string)(p) = makeString(s, alias)
	case opBytesFixed, opBytesVar:
		if !alias {
			s = clone(s)
		}
		*(*[]byte)(p) = s[:len(s):len(s)]
	default: // opArrayFixed, opArrayVar
		a := unsafe.Slice((*byte)(p), o.n)
		clear(a[copy(a, s):])
	}
	return n, nil
}

// makeString returns s as a string: a copy, or with alias set a string that
// shares s's memory.
func makeString(s []byte, alias bool) string {
	if len(s) == 0 {
		return ""
	}
	if alias {
		return unsafe.String(unsafe.SliceData(s), len(s))
	}
	return string(s)
}
