package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
)

// Class is the family of Go values a number format holds.
type Class uint8

// The classes of number formats.
const (
	ClassInt   Class = iota + 1 // signed integer: b h i l q
	ClassUint                   // unsigned integer: B H I L Q
	ClassFloat                  // floating point: e f d
	ClassBool                   // boolean: ?
)

// Format is one number format in Python struct notation, such as ">f",
// "<I" or "!q": an optional byte-order prefix and exactly one type code.
// The zero Format is invalid; obtain one from [ParseFormat].
//
// Accepted prefixes: '>' and '!' (big-endian), '<' (little-endian), '='
// (native order, standard sizes), '@' or none (native order and native sizes,
// which differ from the standard ones only for 'l' and 'L' on LP64 systems).
// Accepted codes: b B h H i I l L q Q e f d ?.
type Format struct {
	text  string
	code  byte
	size  uint8
	big   bool
	class Class
}

// nativeLongSize is the size of a C long, which '@l' and 'l' use.
var nativeLongSize = func() uint8 {
	if runtime.GOOS == "windows" || math.MaxUint == math.MaxUint32 {
		return 4
	}
	return 8
}()

var nativeBig = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// codes gives each accepted type code its standard size and class.
var codes = map[byte]struct {
	size  uint8
	class Class
}{
	'b': {1, ClassInt}, 'B': {1, ClassUint}, '?': {1, ClassBool},
	'h': {2, ClassInt}, 'H': {2, ClassUint},
	'i': {4, ClassInt}, 'I': {4, ClassUint},
	'l': {4, ClassInt}, 'L': {4, ClassUint},
	'q': {8, ClassInt}, 'Q': {8, ClassUint},
	'e': {2, ClassFloat}, 'f': {4, ClassFloat}, 'd': {8, ClassFloat},
}

// ParseFormat parses a one-number struct format string. The error wraps
// ErrFormat and quotes the string.
func ParseFormat(s string) (Format, error) {
	if len(s) == 0 || len(s) > 2 {
		return Format{}, fmt.Errorf("%w %q: want an optional byte order (> < ! = @) and one code (b B h H i I l L q Q e f d ?)", ErrFormat, s)
	}
	f := Format{text: s, big: nativeBig}
	native := true
	code := s[0]
	if len(s) == 2 {
		switch s[0] {
		case '>', '!':
			f.big, native = true, false
		case '<':
			f.big, native = false, false
		case '=':
			native = false
		case '@':
		default:
			return Format{}, fmt.Errorf("%w %q: unknown byte order %q", ErrFormat, s, s[0])
		}
		code = s[1]
	}
	f.code = code
	spec, ok := codes[code]
	if !ok {
		return Format{}, fmt.Errorf("%w %q: unsupported code %q", ErrFormat, s, code)
	}
	f.size, f.class = spec.size, spec.class
	if native && (code == 'l' || code == 'L') {
		f.size = nativeLongSize
	}
	return f, nil
}

// MustParseFormat is like ParseFormat but panics on error. It is meant for
// package-level variables initialised from constant strings.
func MustParseFormat(s string) Format {
	f, err := ParseFormat(s)
	if err != nil {
		panic(err)
	}
	return f
}

// String returns the format as it was written.
func (f Format) String() string { return f.text }

// Valid reports whether f came from a successful ParseFormat.
func (f Format) Valid() bool { return f.size != 0 }

// Size returns the number of bytes a value of this format occupies.
func (f Format) Size() int { return int(f.size) }

// Code returns the type code, such as 'f' or 'I'.
func (f Format) Code() byte { return f.code }

// Class returns the family of values the format holds.
func (f Format) Class() Class { return f.class }

// BigEndian reports whether the format writes the most significant byte first.
func (f Format) BigEndian() bool { return f.big }

// MaxUint returns the largest value an integer format holds (for a signed
// format, the largest non-negative one). It is 1 for '?' and 0 for floats.
func (f Format) MaxUint() uint64 {
	switch f.class {
	case ClassUint:
		return math.MaxUint64 >> (64 - 8*uint(f.size))
	case ClassInt:
		return math.MaxUint64 >> (65 - 8*uint(f.size))
	case ClassBool:
		return 1
	}
	return 0
}

// MinInt returns the smallest value an integer format holds (0 for unsigned
// formats and '?').
func (f Format) MinInt() int64 {
	if f.class == ClassInt {
		return math.MinInt64 >> (64 - 8*uint(f.size))
	}
	return 0
}

// PutBits stores the low Size() bytes of v at the start of b in the format's
// byte order. b must hold at least Size() bytes; v is not range checked.
func (f Format) PutBits(b []byte, v uint64) {
	switch f.size {
	case 1:
		b[0] = byte(v)
	case 2:
		if f.big {
			binary.BigEndian.PutUint16(b, uint16(v))
		} else {
			binary.LittleEndian.PutUint16(b, uint16(v))
		}
	case 4:
		if f.big {
			binary.BigEndian.PutUint32(b, uint32(v))
		} else {
			binary.LittleEndian.PutUint32(b, uint32(v))
		}
	case 8:
		if f.big {
			binary.BigEndian.PutUint64(b, v)
		} else {
			binary.LittleEndian.PutUint64(b, v)
		}
	}
}

// Bits loads Size() bytes from the start of b in the format's byte order,
// zero-extended. b must hold at least Size() bytes.
func (f Format) Bits(b []byte) uint64 {
	switch f.size {
	case 1:
		return uint64(b[0])
	case 2:
		if f.big {
			return uint64(binary.BigEndian.Uint16(b))
		}
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		if f.big {
			return uint64(binary.BigEndian.Uint32(b))
		}
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		if f.big {
			return binary.BigEndian.Uint64(b)
		}
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (f Format) grow(dst []byte) ([]byte, []byte) {
	n := len(dst)
	dst = append(dst, make([]byte, f.size)...)
	return dst, dst[n:]
}

// CheckInt reports an ErrRange error if v does not fit the format. Floats
// accept any integer that does not round past their largest finite value;
// '?' accepts any integer (non-zero is true).
func (f Format) CheckInt(v int64) error {
	switch f.class {
	case ClassFloat:
		_, err := f.FloatBits(float64(v))
		return err
	case ClassInt:
		if v < f.MinInt() || v > int64(f.MaxUint()) {
			return f.rangeErr(v)
		}
	case ClassUint:
		if v < 0 || uint64(v) > f.MaxUint() {
			return f.rangeErr(v)
		}
	}
	return nil
}

// CheckUint reports an ErrRange error if v does not fit the format.
func (f Format) CheckUint(v uint64) error {
	if f.class == ClassFloat {
		_, err := f.FloatBits(float64(v))
		return err
	}
	if (f.class == ClassInt || f.class == ClassUint) && v > f.MaxUint() {
		return f.rangeErr(v)
	}
	return nil
}

func (f Format) rangeErr(v any) error {
	if f.class == ClassInt || f.class == ClassUint {
		return fmt.Errorf("%w: %v does not fit %q (%d..%d)", ErrRange, v, f.text, f.MinInt(), f.MaxUint())
	}
	return fmt.Errorf("%w: %v is too large for %q", ErrRange, v, f.text)
}

// IntBits converts a range-checked integer into the bits PutBits stores.
func (f Format) IntBits(v int64) uint64 {
	switch f.class {
	case ClassFloat:
		b, _ := f.FloatBits(float64(v))
		return b
	case ClassBool:
		if v != 0 {
			return 1
		}
		return 0
	}
	return uint64(v)
}

// FloatBits converts v into the bits PutBits stores for a float format,
// rounding to the nearest representable value (ties to even). A finite value
// that rounds past the format's largest finite value is an ErrRange error;
// NaN and infinities are kept. For an integer format, v must be integral and
// in range.
func (f Format) FloatBits(v float64) (uint64, error) {
	switch f.code {
	case 'd':
		return math.Float64bits(v), nil
	case 'f':
		y := float32(v)
		if math.IsInf(float64(y), 0) && !math.IsInf(v, 0) {
			return 0, f.rangeErr(v)
		}
		return uint64(math.Float32bits(y)), nil
	case 'e':
		h, ok := float64ToHalf(v)
		if !ok {
			return 0, f.rangeErr(v)
		}
		return uint64(h), nil
	}
	if v != math.Trunc(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: %v is not an integer, as %q requires", ErrRange, v, f.text)
	}
	if f.class == ClassBool {
		return f.IntBits(int64(v)), nil
	}
	if v < 0 {
		if v < -(1 << 63) {
			return 0, f.rangeErr(v)
		}
		if err := f.CheckInt(int64(v)); err != nil {
			return 0, err
		}
		return uint64(int64(v)), nil
	}
	if v >= 1<<64 {
		return 0, f.rangeErr(v)
	}
	u := uint64(v)
	return u, f.CheckUint(u)
}

// AppendInt appends v in this format after checking its range.
func (f Format) AppendInt(dst []byte, v int64) ([]byte, error) {
	if err := f.CheckInt(v); err != nil {
		return dst, err
	}
	dst, b := f.grow(dst)
	f.PutBits(b, f.IntBits(v))
	return dst, nil
}

// AppendUint appends v in this format after checking its range.
func (f Format) AppendUint(dst []byte, v uint64) ([]byte, error) {
	if err := f.CheckUint(v); err != nil {
		return dst, err
	}
	if f.class == ClassFloat {
		return f.AppendFloat(dst, float64(v))
	}
	if f.class == ClassBool && v != 0 {
		v = 1
	}
	dst, b := f.grow(dst)
	f.PutBits(b, v)
	return dst, nil
}

// AppendFloat appends v in this format; see FloatBits for the rules.
func (f Format) AppendFloat(dst []byte, v float64) ([]byte, error) {
	bits, err := f.FloatBits(v)
	if err != nil {
		return dst, err
	}
	dst, b := f.grow(dst)
	f.PutBits(b, bits)
	return dst, nil
}

// Int decodes a signed or unsigned integer (sign-extended for signed
// formats) from the start of b, which must hold Size() bytes.
func (f Format) Int(b []byte) int64 {
	v := f.Bits(b)
	if f.class == ClassInt {
		shift := 64 - 8*uint(f.size)
		return int64(v<<shift) >> shift
	}
	return int64(v)
}

// Float decodes a float format from the start of b, which must hold Size()
// bytes. For integer formats it converts the integer.
func (f Format) Float(b []byte) float64 {
	switch f.code {
	case 'd':
		return math.Float64frombits(f.Bits(b))
	case 'f':
		return float64(math.Float32frombits(uint32(f.Bits(b))))
	case 'e':
		return halfToFloat64(uint16(f.Bits(b)))
	}
	if f.class == ClassInt {
		return float64(f.Int(b))
	}
	return float64(f.Bits(b))
}

// float64ToHalf rounds x to IEEE 754 binary16 exactly as CPython's
// PyFloat_Pack2 does; ok is false where a finite x overflows.
func float64ToHalf(x float64) (h uint16, ok bool) {
	var sign uint16
	if math.Signbit(x) {
		sign = 1
	}
	switch {
	case math.IsNaN(x):
		return sign<<15 | 0x7e00, true
	case math.IsInf(x, 0):
		return sign<<15 | 0x7c00, true
	case x == 0:
		return sign << 15, true
	}
	frac, e := math.Frexp(math.Abs(x))
	frac *= 2
	e--
	switch {
	case e >= 16:
		return 0, false
	case e < -25:
		frac, e = 0, 0
	case e < -14:
		frac, e = math.Ldexp(frac, 14+e), 0
	default:
		e += 15
		frac--
	}
	frac *= 1024
	bits := uint16(frac)
	rem := frac - float64(bits)
	if rem > 0.5 || (rem == 0.5 && bits%2 == 1) {
		bits++
		if bits == 1024 {
			bits = 0
			e++
			if e == 31 {
				return 0, false
			}
		}
	}
	return sign<<15 | uint16(e)<<10 | bits, true
}

// halfToFloat64 widens an IEEE 754 binary16 value.
func halfToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return sign * math.Ldexp(m, -24)
	case 0x1f:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.Copysign(math.NaN(), sign)
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}
