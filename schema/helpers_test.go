package schema

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unsafe"

	"github.com/binproto/binproto/wire"
)

// sentinels lists the errors a test may expect, most specific first.
var sentinels = []error{
	ErrMissingField, ErrType, ErrTooLong, ErrInvalidUTF8,
	wire.ErrRange, wire.ErrTruncated, wire.ErrLength, wire.ErrTrailingBytes,
	wire.ErrChecksum, wire.ErrUnknownType, wire.ErrTooLarge, wire.ErrFormat,
}

// sentinelOf returns the first of sentinels that err wraps, or err itself.
func sentinelOf(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// sameError reports whether two encode or decode errors agree: both nil, or
// both *FieldError naming the same field and wrapping the same sentinel.
func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var fa, fb *FieldError
	if !errors.As(a, &fa) || !errors.As(b, &fb) {
		return false
	}
	return fa.Field == fb.Field && sentinelOf(a) == sentinelOf(b)
}

// sameValue compares two decoded or input values across Go types: integers
// by value, floats by value with NaN equal to NaN, bytes by content (a
// [N]byte equals a shorter slice padded with zeros).
func sameValue(a, b any) bool {
	if ba, ok := asBytes(a); ok {
		bb, ok := asBytes(b)
		return ok && (bytes.Equal(ba, bb) || paddedEqual(a, b, ba, bb))
	}
	na, oka := asNumber(a)
	nb, okb := asNumber(b)
	if oka && okb {
		return na.equal(nb)
	}
	return reflect.DeepEqual(a, b)
}

func paddedEqual(a, b any, ba, bb []byte) bool {
	isArray := func(v any) bool { return reflect.TypeOf(v).Kind() == reflect.Array }
	if isArray(a) && len(ba) >= len(bb) {
		return bytes.Equal(ba[:len(bb)], bb) && bytes.Count(ba[len(bb):], []byte{0}) == len(ba)-len(bb)
	}
	if isArray(b) {
		return paddedEqual(b, a, bb, ba)
	}
	return false
}

func asBytes(v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	switch {
	case rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8:
		return rv.Bytes(), true
	case rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8:
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return b, true
	}
	return nil, false
}

// num is a number of any Go type: an integer as sign and magnitude, or a float.
type num struct {
	isFloat bool
	f       float64
	neg     bool
	mag     uint64
}

func asNumber(v any) (num, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		if i < 0 {
			return num{neg: true, mag: uint64(-i)}, true
		}
		return num{mag: uint64(i)}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return num{mag: rv.Uint()}, true
	case reflect.Float32, reflect.Float64:
		return num{isFloat: true, f: rv.Float()}, true
	}
	return num{}, false
}

func (a num) equal(b num) bool {
	if a.isFloat || b.isFloat {
		fa, fb := a.float(), b.float()
		return fa == fb || (math.IsNaN(fa) && math.IsNaN(fb))
	}
	return a.neg == b.neg && a.mag == b.mag
}

func (a num) float() float64 {
	if a.isFloat {
		return a.f
	}
	if a.neg {
		return -float64(a.mag)
	}
	return float64(a.mag)
}

// sameMap compares decoded maps with sameValue.
func sameMap(a, b map[string]any) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d keys, want %d: %v vs %v", len(a), len(b), a, b)
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !sameValue(va, vb) {
			return fmt.Errorf("field %q: %#v, want %#v", k, va, vb)
		}
	}
	return nil
}

// typedValue is a value of a struct type built at run time, with its plan.
type typedValue struct {
	pl *plan
	v  reflect.Value // addressable struct
}

func (tv typedValue) ptr() unsafe.Pointer { return tv.v.Addr().UnsafePointer() }

// toMap reads the tagged fields of tv into a map keyed by wire name. With
// dynamic set, [N]byte arrays become the []byte a dynamic structure takes.
func (tv typedValue) toMap(dynamic bool) map[string]any {
	m := make(map[string]any)
	for j := range tv.v.NumField() {
		tag := tv.v.Type().Field(j).Tag.Get("binproto")
		if tag == "" || tag == "-" {
			continue
		}
		v := tv.v.Field(j).Interface()
		if b, ok := asBytes(v); ok && dynamic {
			v = b
		}
		m[strings.Split(tag, ",")[0]] = v
	}
	return m
}

// setValue stores v into field fv, converting between Go types; it returns
// false if v cannot be represented exactly.
func setValue(fv reflect.Value, v any) bool {
	n, isNum := asNumber(v)
	switch fv.Kind() {
	case reflect.Bool:
		b, ok := v.(bool)
		fv.SetBool(b)
		return ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !isNum || n.isFloat || (!n.neg && n.mag > math.MaxInt64) || (n.neg && n.mag > 1<<63) {
			return false
		}
		i := int64(n.mag)
		if n.neg {
			i = -i
		}
		if fv.OverflowInt(i) {
			return false
		}
		fv.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !isNum || n.isFloat || n.neg || fv.OverflowUint(n.mag) {
			return false
		}
		fv.SetUint(n.mag)
	case reflect.Float32, reflect.Float64:
		if !isNum || !n.isFloat {
			return false
		}
		if fv.Kind() == reflect.Float32 && float64(float32(n.f)) != n.f && !math.IsNaN(n.f) {
			return false
		}
		fv.SetFloat(n.f)
	case reflect.String:
		s, ok := v.(string)
		fv.SetString(s)
		return ok
	case reflect.Slice:
		b, ok := v.([]byte)
		fv.SetBytes(b)
		return ok
	case reflect.Array:
		b, ok := v.([]byte)
		if !ok || len(b) > fv.Len() {
			return false
		}
		reflect.Copy(fv, reflect.ValueOf(b))
	default:
		return false
	}
	return true
}

// goTypeFor returns a Go type for field f. With wide set, integers are held
// in 64-bit types and floats in float64 (exercising range checks); with
// array set, fixed bytes are held in a [N]byte.
func goTypeFor(f Field, wide, array bool) reflect.Type {
	switch f.Kind {
	case KindString:
		return reflect.TypeFor[string]()
	case KindBytes:
		if array && f.FixedLength > 0 {
			return reflect.ArrayOf(f.FixedLength, reflect.TypeFor[byte]())
		}
		return reflect.TypeFor[[]byte]()
	}
	format := wire.MustParseFormat(f.Format)
	switch format.Class() {
	case wire.ClassBool:
		return reflect.TypeFor[bool]()
	case wire.ClassFloat:
		if wide || format.Size() == 8 {
			return reflect.TypeFor[float64]()
		}
		return reflect.TypeFor[float32]()
	case wire.ClassInt:
		if wide {
			return reflect.TypeFor[int64]()
		}
		return []reflect.Type{1: reflect.TypeFor[int8](), 2: reflect.TypeFor[int16](), 4: reflect.TypeFor[int32](), 8: reflect.TypeFor[int64]()}[format.Size()]
	}
	if wide && format.Size() < 8 {
		return reflect.TypeFor[int64]()
	}
	return []reflect.Type{1: reflect.TypeFor[uint8](), 2: reflect.TypeFor[uint16](), 4: reflect.TypeFor[uint32](), 8: reflect.TypeFor[uint64]()}[format.Size()]
}

// structFor builds a struct type with one tagged field per field of s, and
// compiles it. Each field is preceded by an untagged padding field, so that
// offsets are not trivially consecutive.
func structFor(s *Structure, wide, array bool) (*plan, reflect.Type, error) {
	var sfs []reflect.StructField
	for i, f := range s.Fields() {
		tag := f.Name
		if f.Kind == KindNumber {
			tag += "," + f.Format
		} else if f.FixedLength > 0 {
			tag += fmt.Sprintf(",len=%d", f.FixedLength)
		}
		sfs = append(sfs,
			reflect.StructField{Name: fmt.Sprintf("Pad%d", i), Type: reflect.TypeFor[uint8]()},
			reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: goTypeFor(f, wide, array), Tag: reflect.StructTag(fmt.Sprintf("binproto:%q", tag))})
	}
	t := reflect.StructOf(sfs)
	pl, err := compile(t)
	return pl, t, err
}

// newTyped returns a zero value of t with its plan.
func newTyped(pl *plan, t reflect.Type) typedValue {
	return typedValue{pl: pl, v: reflect.New(t).Elem()}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
