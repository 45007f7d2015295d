package schema

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/binproto/binproto/wire"
)

// Codec encodes and decodes payloads of one structure held in Go structs of
// type T. It is compiled once, from T's binproto struct tags (see the
// package documentation), into a plan of field offsets and specialised
// operations: encoding and decoding use no reflection and, for fixed-length
// structures, no allocation.
//
// A Codec is immutable and safe for concurrent use.
type Codec[T any] struct {
	plan plan
}

// NewCodec compiles the binproto tags of struct type T. Fields without a
// binproto tag, or tagged "-", are skipped. The error is a
// [*StructureError] naming the Go field at fault.
func NewCodec[T any]() (*Codec[T], error) {
	pl, err := compile(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	return &Codec[T]{plan: *pl}, nil
}

// MustCodec is like NewCodec but panics on error. It is meant for
// package-level variables.
func MustCodec[T any]() *Codec[T] {
	c, err := NewCodec[T]()
	if err != nil {
		panic(err)
	}
	return c
}

// Structure returns the dynamic structure equivalent to the codec: it puts
// the same bytes on the wire for the same values.
func (c *Codec[T]) Structure() *Structure { return c.plan.s }

// AppendPayload appends the payload of *v to dst. Numbers held in Go types
// wider than their format are range checked (wire.ErrRange); strings must be
// valid UTF-8 and, like []byte values, no longer than their fixed length.
// The error is a [*FieldError]; dst is then returned unchanged.
func (c *Codec[T]) AppendPayload(dst []byte, v *T) ([]byte, error) {
	if v == nil {
		return dst, errNilValue
	}
	return c.plan.appendPayload(dst, unsafe.Pointer(v))
}

// DecodePayload decodes the whole payload p into *v. String and []byte
// fields receive copies, so p may be reused once DecodePayload returns; a
// [n]byte field receives the bytes of its value, zero-padded. The error is
// a [*FieldError], as for [Structure.DecodePayload]; *v may then be
// partially updated.
//
// A []byte field that is not nil is decoded into its own array when that
// has the capacity (as by field = append(field[:0], value...)), so that
// decoding again and again into the same value allocates nothing for its
// []byte fields, however large; strings are always new. The bytes the
// field held before are overwritten: keep a copy (or set the field to nil
// before decoding, for a fresh array) if they are still needed, for
// instance when values decoded into one variable are collected in a list.
func (c *Codec[T]) DecodePayload(p []byte, v *T) error {
	if v == nil {
		return errNilValue
	}
	return c.plan.decode(p, unsafe.Pointer(v), false)
}

// DecodePayloadNoCopy is like DecodePayload but does not copy: the string
// and []byte fields of *v alias p and are valid only as long as p is, that
// is until the buffer holding p is modified or reused (for a frame read by
// a wire.FrameReader, until the next ReadFrame). It does not allocate.
func (c *Codec[T]) DecodePayloadNoCopy(p []byte, v *T) error {
	if v == nil {
		return errNilValue
	}
	return c.plan.decode(p, unsafe.Pointer(v), true)
}

// Reset sets *v to its zero value but keeps the arrays of its tagged
// []byte fields whose capacity is at most keep, truncated to length 0, for
// DecodePayload to reuse: a pool of values (a handler's) then decodes
// large []byte fields without allocating, while values that held more than
// keep bytes let their memory go.
func (c *Codec[T]) Reset(v *T, keep int) {
	if v == nil {
		return
	}
	var kept [4][]byte
	base := unsafe.Pointer(v)
	n := 0
	for i := range c.plan.ops {
		o := &c.plan.ops[i]
		if (o.code == opBytesVar || o.code == opBytesFixed) && n < len(kept) {
			if b := *(*[]byte)(unsafe.Add(base, o.off)); b != nil && cap(b) <= keep {
				kept[n] = b[:0]
			}
			n++
		}
	}
	var zero T
	*v = zero
	n = 0
	for i := range c.plan.ops {
		o := &c.plan.ops[i]
		if (o.code == opBytesVar || o.code == opBytesFixed) && n < len(kept) {
			*(*[]byte)(unsafe.Add(base, o.off)) = kept[n]
			n++
		}
	}
}

// errNilValue is returned for a nil *T.
var errNilValue error = &FieldError{Err: fmt.Errorf("%w: nil pointer to the value", ErrType)}

// tagField is one tagged Go field on its way to becoming an op.
type tagField struct {
	goName string
	field  Field
	t      reflect.Type
	off    uintptr
}

// compile builds the plan of struct type t.
func compile(t reflect.Type) (*plan, error) {
	if t == nil || t.Kind() != reflect.Struct {
		return nil, invalid("", ErrGoType, "%v is not a struct type", t)
	}
	var tfs []tagField
	seen := make(map[string]string)
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("binproto")
		if !ok || tag == "-" {
			continue
		}
		if !sf.IsExported() {
			return nil, invalid(sf.Name, ErrUnexported, "")
		}
		f, err := tagToField(sf, tag)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[f.Name]; dup {
			return nil, invalid(sf.Name, ErrDuplicateName, "%q is also the name of %s", f.Name, other)
		}
		seen[f.Name] = sf.Name
		tfs = append(tfs, tagField{goName: sf.Name, field: f, t: sf.Type, off: sf.Offset})
	}
	fields := make([]Field, len(tfs))
	for i, tf := range tfs {
		fields[i] = tf.field
	}
	s, err := NewStructure(fields...)
	if err != nil {
		return nil, err
	}
	pl := &plan{ops: make([]op, len(tfs)), variable: s.Variable(), s: s}
	for i, tf := range tfs {
		o, err := makeOp(tf, &s.ops[i], pl.variable)
		if err != nil {
			return nil, err
		}
		pl.ops[i] = o
		switch o.code {
		case opStrVar, opBytesVar:
			pl.ops[i].max = maxLengthInt
			if o.n > 0 {
				pl.ops[i].max = o.n
			}
			pl.varOps = append(pl.varOps, i)
			pl.size += wire.LengthSize
		case opArrayVar:
			pl.size += wire.LengthSize + o.n
		case opStrFixed, opBytesFixed, opArrayFixed:
			pl.ops[i].max = o.n
			pl.size += o.n
		default:
			pl.size += o.format.Size()
		}
	}
	pl.raw = rawOps(pl)
	return pl, nil
}

// rawOps returns the compact ops of a fixed plan made of raw numbers and
// bools only, or nil. Runs of the same op over contiguous Go fields are
// merged into one rawOp.
func rawOps(pl *plan) []rawOp {
	if pl.variable || len(pl.ops) == 0 {
		return nil
	}
	var raw []rawOp
	pos := uintptr(0)
	for _, o := range pl.ops {
		if o.code > opBool {
			return nil
		}
		size := uintptr(o.format.Size())
		if n := len(raw); n > 0 {
			last := &raw[n-1]
			if last.code == o.code && last.off+last.count*size == o.off {
				last.count++
				pos += size
				continue
			}
		}
		raw = append(raw, rawOp{code: o.code, count: 1, off: o.off, pos: pos})
		pos += size
	}
	return raw
}

// tagToField parses `binproto:"NAME[,FORMAT][,len=N]"` for field sf.
func tagToField(sf reflect.StructField, tag string) (Field, error) {
	parts := strings.Split(tag, ",")
	name, format, n := parts[0], "", 0
	for _, part := range parts[1:] {
		switch {
		case strings.HasPrefix(part, "len="):
			v, err := strconv.Atoi(part[len("len="):])
			if err != nil || v <= 0 || n != 0 {
				return Field{}, invalid(sf.Name, ErrTag, "%q: want one len=N with N > 0", tag)
			}
			n = v
		case part == "" || format != "":
			return Field{}, invalid(sf.Name, ErrTag, "%q: want NAME[,FORMAT][,len=N]", tag)
		default:
			format = part
		}
	}
	t := sf.Type
	switch {
	case isNumber(t.Kind()):
		if format == "" {
			format = defaultFormat(t)
		}
		f := Field{Name: name, Kind: KindNumber, Format: format, FixedLength: n}
		if _, err := checkField(f); err != nil {
			return Field{}, &StructureError{Field: sf.Name, Err: err.Err}
		}
		return f, nil
	case t.Kind() == reflect.String:
		return checkedField(sf, Field{Name: name, Kind: KindString, Format: format, FixedLength: n})
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return checkedField(sf, Field{Name: name, Kind: KindBytes, Format: format, FixedLength: n})
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8:
		if t.Len() == 0 || (n != 0 && n != t.Len()) {
			return Field{}, invalid(sf.Name, ErrFixedLength, "len=%d on %v", n, t)
		}
		return checkedField(sf, Field{Name: name, Kind: KindBytes, Format: format, FixedLength: t.Len()})
	}
	return Field{}, invalid(sf.Name, ErrGoType, "%v", t)
}

func checkedField(sf reflect.StructField, f Field) (Field, error) {
	if _, err := checkField(f); err != nil {
		return Field{}, &StructureError{Field: sf.Name, Err: err.Err}
	}
	return f, nil
}

func isNumber(k reflect.Kind) bool {
	return k == reflect.Bool || (k >= reflect.Int && k <= reflect.Float64)
}

// defaultFormat returns the big-endian format of a Go number type.
func defaultFormat(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "?"
	case reflect.Float32:
		return ">f"
	case reflect.Float64:
		return ">d"
	}
	signed := t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64
	codes := map[uintptr]string{1: "b", 2: "h", 4: "i", 8: "q"}[t.Size()]
	if !signed {
		codes = strings.ToUpper(codes)
	}
	return ">" + codes
}

// makeOp chooses the op of one tagged field whose dynamic op is d.
func makeOp(tf tagField, d *dynOp, variable bool) (op, error) {
	o := op{off: tf.off, n: d.n, format: d.format, name: d.name}
	switch tf.t.Kind() {
	case reflect.String:
		o.code = opStrFixed
		if variable {
			o.code = opStrVar
		}
		return o, nil
	case reflect.Slice:
		o.code = opBytesFixed
		if variable {
			o.code = opBytesVar
		}
		return o, nil
	case reflect.Array:
		o.code = opArrayFixed
		if variable {
			o.code = opArrayVar
		}
		return o, nil
	}
	code, ok := numberCode(tf.t, d.format)
	if !ok {
		return op{}, invalid(tf.goName, ErrGoType, "%v cannot hold %q", tf.t, d.format)
	}
	o.code, o.width = code, uint8(tf.t.Size())
	return o, nil
}

// numberCode returns the op storing format f in Go type t, and false if t
// cannot hold every value of f.
func numberCode(t reflect.Type, f wire.Format) (opCode, bool) {
	w, fs := int(t.Size()), f.Size()
	k := t.Kind()
	switch {
	case k == reflect.Bool:
		return opBool, f.Class() == wire.ClassBool
	case k >= reflect.Int && k <= reflect.Int64:
		switch {
		case f.Class() == wire.ClassInt && w == fs:
			return rawCode(f), true
		case f.Class() == wire.ClassInt && w > fs, f.Class() == wire.ClassUint && w > fs:
			return opInt, true
		}
	case k >= reflect.Uint && k <= reflect.Uintptr:
		switch {
		case f.Class() == wire.ClassUint && w == fs:
			return rawCode(f), true
		case f.Class() == wire.ClassUint && w > fs:
			return opUint, true
		}
	case k == reflect.Float32 || k == reflect.Float64:
		switch {
		case f.Class() == wire.ClassFloat && w == fs:
			return rawCode(f), true
		case f.Class() == wire.ClassFloat && w > fs:
			return opFloat, true
		}
	}
	return 0, false
}

// rawCode returns the op copying the bits of a value of format f.
func rawCode(f wire.Format) opCode {
	var code opCode
	switch f.Size() {
	case 1:
		return opRaw1
	case 2:
		code = opRaw2BE
	case 4:
		code = opRaw4BE
	default:
		code = opRaw8BE
	}
	if !f.BigEndian() {
		code++
	}
	return code
}
