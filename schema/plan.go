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
	// The raw ops copy the bits of a Go value whose size and class match its
	// format (float32 with ">f", uint32 with ">I", int32 with ">i"...).
	opRaw1       opCode = iota // 1 byte
	opRaw2BE                   // 2 bytes, big-endian
	opRaw2LE                   // 2 bytes, little-endian
	opRaw4BE                   // 4 bytes, big-endian
	opRaw4LE                   // 4 bytes, little-endian
	opRaw8BE                   // 8 bytes, big-endian
	opRaw8LE                   // 8 bytes, little-endian
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
	max    int     // variable-length strings and bytes: the largest length allowed
	format wire.Format
	name   string
}

// rawOp is the compact form of a run of raw or bool ops of a fixed
// structure: count values of the same op whose Go fields and payload
// positions are both contiguous (such as four float32 fields with ">f"),
// with the payload position precomputed.
type rawOp struct {
	code  opCode
	count uintptr // number of values in the run
	off   uintptr // offset of the first Go field in the struct
	pos   uintptr // offset of the first value in the payload
}

// plan is the compiled form of a Go struct type: the ops in wire order.
type plan struct {
	ops      []op
	raw      []rawOp // for fixed structures of raw numbers and bools only: ops in compact form
	varOps   []int   // indexes of the ops whose encoded size depends on the value
	variable bool
	size     int // fixed payload size; for variable plans, the part that does not depend on values
	s        *Structure
}

// appendPayload appends the payload of the struct at base to dst.
func (pl *plan) appendPayload(dst []byte, base unsafe.Pointer) ([]byte, error) {
	if pl.raw == nil {
		return pl.appendGeneral(dst, base)
	}
	// The fast path: one grow, then straight stores at fixed positions.
	n := len(dst)
	if cap(dst)-n < pl.size {
		dst = slices.Grow(dst, pl.size)
	}
	dst = dst[:n+pl.size]
	out := unsafe.Pointer(unsafe.SliceData(dst[n:]))
	for i := range pl.raw {
		o := &pl.raw[i]
		p, q := unsafe.Add(base, o.off), unsafe.Add(out, o.pos)
		// No calls in this loop: everything stays in registers.
		switch o.code {
		case opRaw4BE:
			for k := range o.count {
				binary.BigEndian.PutUint32((*[4]byte)(unsafe.Add(q, 4*k))[:], *(*uint32)(unsafe.Add(p, 4*k)))
			}
		case opRaw8BE:
			for k := range o.count {
				binary.BigEndian.PutUint64((*[8]byte)(unsafe.Add(q, 8*k))[:], *(*uint64)(unsafe.Add(p, 8*k)))
			}
		case opRaw2BE:
			for k := range o.count {
				binary.BigEndian.PutUint16((*[2]byte)(unsafe.Add(q, 2*k))[:], *(*uint16)(unsafe.Add(p, 2*k)))
			}
		case opRaw4LE:
			for k := range o.count {
				binary.LittleEndian.PutUint32((*[4]byte)(unsafe.Add(q, 4*k))[:], *(*uint32)(unsafe.Add(p, 4*k)))
			}
		case opRaw8LE:
			for k := range o.count {
				binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(q, 8*k))[:], *(*uint64)(unsafe.Add(p, 8*k)))
			}
		case opRaw2LE:
			for k := range o.count {
				binary.LittleEndian.PutUint16((*[2]byte)(unsafe.Add(q, 2*k))[:], *(*uint16)(unsafe.Add(p, 2*k)))
			}
		default: // opRaw1, opBool: a Go bool is 0 or 1, as "?" wants
			for k := range o.count {
				*(*uint8)(unsafe.Add(q, k)) = *(*uint8)(unsafe.Add(p, k))
			}
		}
	}
	return dst, nil
}

// appendGeneral is appendPayload for plans with strings, bytes or range
// checked numbers. A first pass over the variable-length fields computes the
// payload size, so that dst grows once; the second pass writes the fields.
func (pl *plan) appendGeneral(dst []byte, base unsafe.Pointer) ([]byte, error) {
	size := pl.size
	for _, i := range pl.varOps {
		o := &pl.ops[i]
		var n int
		if o.code == opStrVar {
			n = len(*(*string)(unsafe.Add(base, o.off)))
		} else {
			n = len(*(*[]byte)(unsafe.Add(base, o.off)))
		}
		if n > o.max {
			return dst, pl.firstError(base)
		}
		size += n
	}
	start := len(dst)
	out := dst
	if cap(out)-start < size {
		out = slices.Grow(out, size)
	}
	out = out[:start+size]
	b := out[start:]
	pos := 0
	for i := range pl.ops {
		o := &pl.ops[i]
		p := unsafe.Add(base, o.off)
		q := b[pos:]
		switch o.code {
		case opRaw4BE:
			binary.BigEndian.PutUint32(q, *(*uint32)(p))
			pos += 4
		case opRaw8BE:
			binary.BigEndian.PutUint64(q, *(*uint64)(p))
			pos += 8
		case opStrVar:
			s := *(*string)(p)
			if !utf8.ValidString(s) {
				return dst, &FieldError{Field: o.name, Err: ErrInvalidUTF8}
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
				return dst, &FieldError{Field: o.name, Err: err}
			}
			pos += n
		}
	}
	return out, nil
}

// firstError returns the error of the first field, in wire order, that
// cannot be encoded, so that errors name the same field as the dynamic
// encoder does. It is called once the size pass has found a value too long.
func (pl *plan) firstError(base unsafe.Pointer) error {
	var scratch [8]byte
	for i := range pl.ops {
		o := &pl.ops[i]
		p := unsafe.Add(base, o.off)
		var err error
		switch o.code {
		case opInt, opUint, opFloat:
			_, err = o.encodeSlow(scratch[:], p)
		case opStrVar, opStrFixed:
			err = checkStr(*(*string)(p), o.max)
		case opBytesVar, opBytesFixed:
			err = checkLen(len(*(*[]byte)(p)), o.max)
		}
		if err != nil {
			return &FieldError{Field: o.name, Err: err}
		}
	}
	return nil
}

// encodeSlow handles the less common ops; it returns the bytes written.
func (o *op) encodeSlow(q []byte, p unsafe.Pointer) (int, error) {
	switch o.code {
	case opRaw1, opRaw2BE, opRaw2LE, opRaw4LE, opRaw8LE, opBool:
		r := rawOp{code: o.code, count: 1}
		_ = q[o.format.Size()-1]
		encodeRaw(&r, p, unsafe.Pointer(unsafe.SliceData(q)))
		return o.format.Size(), nil
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
		var x float64
		if o.width == 4 {
			x = float64(*(*float32)(p))
		} else {
			x = *(*float64)(p)
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

// encodeRaw stores the values of a run from the Go fields at p into the
// payload at q. (appendPayload inlines the same switch.)
func encodeRaw(o *rawOp, p, q unsafe.Pointer) {
	for k := range o.count {
		switch o.code {
		case opRaw1:
			*(*uint8)(unsafe.Add(q, k)) = *(*uint8)(unsafe.Add(p, k))
		case opBool:
			*(*bool)(unsafe.Add(q, k)) = *(*bool)(unsafe.Add(p, k)) // a Go bool is 0 or 1
		case opRaw2BE:
			binary.BigEndian.PutUint16((*[2]byte)(unsafe.Add(q, 2*k))[:], *(*uint16)(unsafe.Add(p, 2*k)))
		case opRaw2LE:
			binary.LittleEndian.PutUint16((*[2]byte)(unsafe.Add(q, 2*k))[:], *(*uint16)(unsafe.Add(p, 2*k)))
		case opRaw4BE:
			binary.BigEndian.PutUint32((*[4]byte)(unsafe.Add(q, 4*k))[:], *(*uint32)(unsafe.Add(p, 4*k)))
		case opRaw4LE:
			binary.LittleEndian.PutUint32((*[4]byte)(unsafe.Add(q, 4*k))[:], *(*uint32)(unsafe.Add(p, 4*k)))
		case opRaw8BE:
			binary.BigEndian.PutUint64((*[8]byte)(unsafe.Add(q, 8*k))[:], *(*uint64)(unsafe.Add(p, 8*k)))
		case opRaw8LE:
			binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(q, 8*k))[:], *(*uint64)(unsafe.Add(p, 8*k)))
		}
	}
}

// decode decodes payload b into the struct at base. With alias set, string
// and []byte fields point into b instead of holding copies.
func (pl *plan) decode(b []byte, base unsafe.Pointer, alias bool) error {
	if pl.raw == nil {
		return pl.decodeGeneral(b, base, alias)
	}
	if len(b) != pl.size {
		return pl.s.sizeErr(len(b))
	}
	in := unsafe.Pointer(unsafe.SliceData(b))
	for i := range pl.raw {
		o := &pl.raw[i]
		p, q := unsafe.Add(base, o.off), unsafe.Add(in, o.pos)
		switch o.code {
		case opRaw4BE:
			for k := range o.count {
				*(*uint32)(unsafe.Add(p, 4*k)) = binary.BigEndian.Uint32((*[4]byte)(unsafe.Add(q, 4*k))[:])
			}
		case opRaw8BE:
			for k := range o.count {
				*(*uint64)(unsafe.Add(p, 8*k)) = binary.BigEndian.Uint64((*[8]byte)(unsafe.Add(q, 8*k))[:])
			}
		case opRaw2BE:
			for k := range o.count {
				*(*uint16)(unsafe.Add(p, 2*k)) = binary.BigEndian.Uint16((*[2]byte)(unsafe.Add(q, 2*k))[:])
			}
		case opRaw4LE:
			for k := range o.count {
				*(*uint32)(unsafe.Add(p, 4*k)) = binary.LittleEndian.Uint32((*[4]byte)(unsafe.Add(q, 4*k))[:])
			}
		case opRaw8LE:
			for k := range o.count {
				*(*uint64)(unsafe.Add(p, 8*k)) = binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(q, 8*k))[:])
			}
		case opRaw2LE:
			for k := range o.count {
				*(*uint16)(unsafe.Add(p, 2*k)) = binary.LittleEndian.Uint16((*[2]byte)(unsafe.Add(q, 2*k))[:])
			}
		case opRaw1:
			for k := range o.count {
				*(*uint8)(unsafe.Add(p, k)) = *(*uint8)(unsafe.Add(q, k))
			}
		default: // opBool: any non-zero byte is true, as in Python
			for k := range o.count {
				*(*bool)(unsafe.Add(p, k)) = *(*uint8)(unsafe.Add(q, k)) != 0
			}
		}
	}
	return nil
}

// decodeGeneral is decode for plans with strings, bytes or range checked
// numbers.
func (pl *plan) decodeGeneral(b []byte, base unsafe.Pointer, alias bool) error {
	if !pl.variable && len(b) != pl.size {
		return pl.s.sizeErr(len(b))
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
			if len(q) < wire.LengthSize {
				return o.truncated(len(q), wire.LengthSize)
			}
			n := uint64(binary.BigEndian.Uint32(q))
			if n > uint64(len(q)-wire.LengthSize) || n > uint64(o.max) {
				_, err := lengthPrefixed(q, o.n) // the detailed error
				return &FieldError{Field: o.name, Err: err}
			}
			s := q[wire.LengthSize : wire.LengthSize+n]
			if !utf8.Valid(s) {
				return &FieldError{Field: o.name, Err: ErrInvalidUTF8}
			}
			switch {
			case len(s) == 0:
				*(*string)(p) = ""
			case alias:
				*(*string)(p) = unsafe.String(&s[0], len(s))
			default:
				*(*string)(p) = string(s)
			}
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
		if alias {
			*(*[]byte)(p) = s[:len(s):len(s)]
		} else {
			*(*[]byte)(p) = copyInto(*(*[]byte)(p), s)
		}
	default: // opArrayFixed, opArrayVar
		a := unsafe.Slice((*byte)(p), o.n)
		clear(a[copy(a, s):])
	}
	return n, nil
}

// copyInto returns a copy of s in dst's array when it has the capacity
// (dst = append(dst[:0], s...)), so that decoding into a reused value does
// not allocate; a nil dst gets a fresh copy of exactly len(s) bytes, empty
// but not nil for an empty s, as before.
func copyInto(dst, s []byte) []byte {
	if dst == nil {
		return clone(s)
	}
	return append(dst[:0], s...)
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
