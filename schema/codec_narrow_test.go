package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/binproto/binproto/wire"
)

// Go integer fields wider than their wire format ("narrowed" fields): every
// combination the typed codec accepts. A signed Go field holds any narrower
// signed or unsigned format; an unsigned one any narrower unsigned format.
// int and uint only take 1- and 2-byte formats, so that the test means the
// same on 32-bit platforms.
type (
	narrowI16 struct {
		B  int16 `binproto:"b,>b"`
		UB int16 `binproto:"ub,B"`
	}
	narrowI32 struct {
		B   int32 `binproto:"b,b"`
		H   int32 `binproto:"h,>h"`
		HL  int32 `binproto:"hl,<h"`
		UB  int32 `binproto:"ub,>B"`
		UH  int32 `binproto:"uh,>H"`
		UHL int32 `binproto:"uhl,<H"`
	}
	narrowI64 struct {
		B   int64 `binproto:"b,>b"`
		H   int64 `binproto:"h,>h"`
		HL  int64 `binproto:"hl,<h"`
		I   int64 `binproto:"i,>i"`
		IL  int64 `binproto:"il,<i"`
		UB  int64 `binproto:"ub,B"`
		UH  int64 `binproto:"uh,>H"`
		UHL int64 `binproto:"uhl,<H"`
		UI  int64 `binproto:"ui,>I"`
		UIL int64 `binproto:"uil,<I"`
	}
	narrowInt struct {
		B  int `binproto:"b,>b"`
		H  int `binproto:"h,<h"`
		UB int `binproto:"ub,>B"`
		UH int `binproto:"uh,>H"`
	}
	narrowU16 struct {
		UB uint16 `binproto:"ub,>B"`
	}
	narrowU32 struct {
		UB  uint32 `binproto:"ub,B"`
		UH  uint32 `binproto:"uh,>H"`
		UHL uint32 `binproto:"uhl,<H"`
	}
	narrowU64 struct {
		UB  uint64 `binproto:"ub,>B"`
		UH  uint64 `binproto:"uh,>H"`
		UHL uint64 `binproto:"uhl,<H"`
		UI  uint64 `binproto:"ui,>I"`
		UIL uint64 `binproto:"uil,<I"`
	}
	narrowUint struct {
		UB  uint    `binproto:"ub,>B"`
		UH  uint    `binproto:"uh,<H"`
		UPH uintptr `binproto:"uph,>H"`
	}
)

func TestCodecNarrowedIntegers(t *testing.T) {
	t.Run("int16", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowI16]()) })
	t.Run("int32", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowI32]()) })
	t.Run("int64", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowI64]()) })
	t.Run("int", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowInt]()) })
	t.Run("uint16", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowU16]()) })
	t.Run("uint32", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowU32]()) })
	t.Run("uint64", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowU64]()) })
	t.Run("uint", func(t *testing.T) { checkNarrowed(t, MustCodec[narrowUint]()) })
}

// narrowField is one field of a narrowed struct: its wire format's range
// and the Go field's.
type narrowField struct {
	name           string
	idx            int
	size           int
	big, signedFmt bool
	signedGo       bool
	min, max       int64  // the format's range
	umax           uint64 // max as a uint64
	goMin, goMax   int64  // the Go field's range, signed Go fields
	goUmax         uint64 // the Go field's largest value, unsigned Go fields
}

func narrowFields(t *testing.T, typ reflect.Type) []narrowField {
	var fs []narrowField
	for i := range typ.NumField() {
		sf := typ.Field(i)
		name, format, _ := strings.Cut(sf.Tag.Get("binproto"), ",")
		f := wire.MustParseFormat(format)
		nf := narrowField{name: name, idx: i, size: f.Size(), big: f.BigEndian() || f.Size() == 1,
			signedFmt: f.Class() == wire.ClassInt, min: f.MinInt(), umax: f.MaxUint()}
		nf.max = int64(nf.umax)
		bits := 8 * uint(sf.Type.Size())
		switch sf.Type.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			nf.signedGo = true
			nf.goMin, nf.goMax = math.MinInt64>>(64-bits), math.MaxInt64>>(64-bits)
		default:
			nf.goUmax = math.MaxUint64 >> (64 - bits)
		}
		if int(sf.Type.Size()) <= nf.size {
			t.Fatalf("field %s: %v is not wider than %q", sf.Name, sf.Type, format)
		}
		fs = append(fs, nf)
	}
	return fs
}

// wireBits returns the payload bytes of v in f's size and byte order.
func (f narrowField) wireBits(v uint64) []byte {
	b := make([]byte, 8)
	if f.big {
		binary.BigEndian.PutUint64(b, v)
		return b[8-f.size:]
	}
	binary.LittleEndian.PutUint64(b, v)
	return b[:f.size]
}

// set stores v in field f of the struct s.
func (f narrowField) set(s reflect.Value, v int64) {
	if fv := s.Field(f.idx); f.signedGo {
		fv.SetInt(v)
	} else {
		fv.SetUint(uint64(v))
	}
}

// checkNarrowed checks every field of T, a struct of narrowed integers:
// the extreme values of the wire format (and -1, 0, 1) round-trip, with
// negative values sign-extended into the wider Go field and unsigned ones
// zero-extended; the values just out of the format's range, and any
// negative value for an unsigned format, are refused with wire.ErrRange.
func checkNarrowed[T comparable](t *testing.T, c *Codec[T]) {
	t.Helper()
	fields := narrowFields(t, reflect.TypeFor[T]())
	for _, f := range fields {
		good := []int64{f.min, 0, 1, f.max}
		if f.signedFmt {
			good = append(good, -1, f.min+1, f.max-1)
		} else if f.umax > 1 {
			good = append(good, int64(f.umax-1), int64(f.umax>>1)+1)
		}
		for _, v := range good {
			var in T
			f.set(reflect.ValueOf(&in).Elem(), v)
			p, err := c.AppendPayload(nil, &in)
			if err != nil {
				t.Fatalf("%s = %d: encode: %v", f.name, v, err)
			}
			// The expected payload: this field's bits, zeros elsewhere.
			var want []byte
			for _, g := range fields {
				if g.idx == f.idx {
					want = append(want, f.wireBits(uint64(v))...)
				} else {
					want = append(want, make([]byte, g.size)...)
				}
			}
			if !bytes.Equal(p, want) {
				t.Fatalf("%s = %d: payload %x, want %x", f.name, v, p, want)
			}
			// Decode into a struct full of ones: every bit of every Go
			// field must be written, not only the format's width.
			var out T
			fillOnes(&out)
			if err := c.DecodePayload(p, &out); err != nil {
				t.Fatalf("%s = %d: decode: %v", f.name, v, err)
			}
			if out != in {
				t.Fatalf("%s = %d: decoded %+v, want %+v", f.name, v, out, in)
			}
		}
		for _, v := range f.outOfRange() {
			var in T
			f.set(reflect.ValueOf(&in).Elem(), v)
			_, err := c.AppendPayload(nil, &in)
			var fe *FieldError
			if !errors.Is(err, wire.ErrRange) || !errors.As(err, &fe) || fe.Field != f.name {
				t.Errorf("%s = %d (out of range): %v, want a FieldError for %s wrapping ErrRange", f.name, v, err, f.name)
			}
		}
	}
}

// outOfRange returns the Go values of f just outside its format's range
// (for an unsigned format, -1 and the value after its largest), and the
// Go field's own extremes. The Go field is wider, so it holds them all.
func (f narrowField) outOfRange() []int64 {
	if f.signedGo {
		return []int64{f.min - 1, f.goMin, f.max + 1, f.goMax}
	}
	// int64(f.goUmax) wraps for a 64-bit field; set stores it back as is.
	return []int64{int64(f.umax + 1), int64(f.goUmax)}
}

// fillOnes sets every bit of every (integer) field of *v.
func fillOnes[T any](v *T) {
	s := reflect.ValueOf(v).Elem()
	for i := range s.NumField() {
		if fv := s.Field(i); fv.CanInt() {
			fv.SetInt(-1)
		} else {
			fv.SetUint(math.MaxUint64)
		}
	}
}
