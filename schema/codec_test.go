package schema

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/binproto/binproto/wire"
)

type sensor struct {
	S1 float32 `binproto:"sensor1,>f"`
	S2 float32 `binproto:"sensor2,>f"`
	S3 float32 `binproto:"sensor3,>f"`
	S4 float32 `binproto:"sensor4,>f"`
}

type status struct {
	Code    uint32 `binproto:"status_code,>I"`
	Message string `binproto:"message"`
}

// kitchen has a field of every supported kind, with padding and skipped
// fields in between.
type kitchen struct {
	I8      int8    `binproto:"i8"`
	skipped int     // untagged unexported fields are skipped
	I16     int16   `binproto:"i16,<h"`
	I32     int32   `binproto:"i32"`
	I64     int64   `binproto:"i64,>I"` // wider than its format: range checked
	I       int     `binproto:"i"`
	U8      uint8   `binproto:"u8"`
	Ignored string  `binproto:"-"`
	U16     uint16  `binproto:"u16,<H"`
	U32     uint32  `binproto:"u32"`
	U64     uint64  `binproto:"u64,>H"`
	U       uint    `binproto:"u"`
	F32     float32 `binproto:"f32,<f"`
	F64     float64 `binproto:"f64"`
	Half    float32 `binproto:"half,>e"`
	Narrow  float64 `binproto:"narrow,>f"`
	B       bool    `binproto:"b"`
	Untag   float64
	Name    string   `binproto:"name,len=6"`
	Blob    []byte   `binproto:"blob,len=3"`
	Key     [4]byte  `binproto:"key"`
	Native  int64    `binproto:"native,@l"`
	Little  uint64   `binproto:"little,<Q"`
	Big     int64    `binproto:"big,!q"`
	Byte    [1]uint8 `binproto:"one,len=1"`
}

// kitchenVar is kitchen plus variable-length fields. (Embedded structs are
// not flattened, so the fields are repeated.)
type kitchenVar struct {
	I8      int8    `binproto:"i8"`
	skipped int     // untagged unexported fields are skipped
	I16     int16   `binproto:"i16,<h"`
	I32     int32   `binproto:"i32"`
	I64     int64   `binproto:"i64,>I"` // wider than its format: range checked
	I       int     `binproto:"i"`
	U8      uint8   `binproto:"u8"`
	Ignored string  `binproto:"-"`
	U16     uint16  `binproto:"u16,<H"`
	U32     uint32  `binproto:"u32"`
	U64     uint64  `binproto:"u64,>H"`
	U       uint    `binproto:"u"`
	F32     float32 `binproto:"f32,<f"`
	F64     float64 `binproto:"f64"`
	Half    float32 `binproto:"half,>e"`
	Narrow  float64 `binproto:"narrow,>f"`
	B       bool    `binproto:"b"`
	Untag   float64
	Name    string   `binproto:"name,len=6"`
	Blob    []byte   `binproto:"blob,len=3"`
	Key     [4]byte  `binproto:"key"`
	Native  int64    `binproto:"native,@l"`
	Little  uint64   `binproto:"little,<Q"`
	Big     int64    `binproto:"big,!q"`
	Byte    [1]uint8 `binproto:"one,len=1"`
	Msg     string   `binproto:"msg"`
	Data    []byte   `binproto:"data"`
	Arr     [3]byte  `binproto:"arr"`
	Tail    string   `binproto:"tail,len=2"`
	Code    uint32   `binproto:"code,<I"`
	ID      [2]uint8 `binproto:"id,len=2"`
}

func (k *kitchenVar) fixed() *kitchen {
	return &kitchen{k.I8, 0, k.I16, k.I32, k.I64, k.I, k.U8, k.Ignored, k.U16, k.U32, k.U64, k.U, k.F32, k.F64,
		k.Half, k.Narrow, k.B, k.Untag, k.Name, k.Blob, k.Key, k.Native, k.Little, k.Big, k.Byte}
}

func TestCodecDefaultFormats(t *testing.T) {
	type all struct {
		A int8    `binproto:"a"`
		B int16   `binproto:"b"`
		C int32   `binproto:"c"`
		D int64   `binproto:"d"`
		E int     `binproto:"e"`
		F uint8   `binproto:"f"`
		G uint16  `binproto:"g"`
		H uint32  `binproto:"h"`
		I uint64  `binproto:"i"`
		J uint    `binproto:"j"`
		K float32 `binproto:"k"`
		L float64 `binproto:"l"`
		M bool    `binproto:"m"`
		N string  `binproto:"n,len=2"`
		O []byte  `binproto:"o,len=2"`
		P [3]byte `binproto:"p"`
	}
	var got []string
	for _, f := range MustCodec[all]().Structure().Fields() {
		got = append(got, f.Format)
	}
	want := []string{">b", ">h", ">i", ">q", ">q", ">B", ">H", ">I", ">Q", ">Q", ">f", ">d", "?", "", "", ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("formats %q, want %q", got, want)
	}
	fs := MustCodec[all]().Structure().Fields()
	if fs[15] != FixedBytes("p", 3) || fs[13] != FixedStr("n", 2) || fs[14] != FixedBytes("o", 2) {
		t.Errorf("fields %+v", fs[13:])
	}
}

func TestNewCodecErrors(t *testing.T) {
	type inner struct{ X int }
	tests := []struct {
		name  string
		codec func() error
		field string
		want  error
	}{
		{"not a struct", codecErr[int], "", ErrGoType},
		{"pointer", codecErr[*sensor], "", ErrGoType},
		{">I into int32", codecErr[struct {
			A int32 `binproto:"a,>I"`
		}], "A", ErrGoType},
		{">I into uint16", codecErr[struct {
			A uint16 `binproto:"a,>I"`
		}], "A", ErrGoType},
		{">q into uint64", codecErr[struct {
			A uint64 `binproto:"a,>q"`
		}], "A", ErrGoType},
		{">Q into int64", codecErr[struct {
			A int64 `binproto:"a,>Q"`
		}], "A", ErrGoType},
		{">h into int8", codecErr[struct {
			A int8 `binproto:"a,>h"`
		}], "A", ErrGoType},
		{">d into float32", codecErr[struct {
			A float32 `binproto:"a,>d"`
		}], "A", ErrGoType},
		{">f into int64", codecErr[struct {
			A int64 `binproto:"a,>f"`
		}], "A", ErrGoType},
		{">i into float64", codecErr[struct {
			A float64 `binproto:"a,>i"`
		}], "A", ErrGoType},
		{"? into int", codecErr[struct {
			A int `binproto:"a,?"`
		}], "A", ErrGoType},
		{">B into bool", codecErr[struct {
			A bool `binproto:"a,>B"`
		}], "A", ErrGoType},
		{"format on string", codecErr[struct {
			A string `binproto:"a,>f"`
		}], "A", ErrUnexpectedFormat},
		{"format on bytes", codecErr[struct {
			A []byte `binproto:"a,>B"`
		}], "A", ErrUnexpectedFormat},
		{"bad format", codecErr[struct {
			A uint8 `binproto:"a,>z"`
		}], "A", wire.ErrFormat},
		{"len on number", codecErr[struct {
			A uint32 `binproto:"a,len=4"`
		}], "A", ErrFixedLength},
		{"len mismatch on array", codecErr[struct {
			A [4]byte `binproto:"a,len=5"`
		}], "A", ErrFixedLength},
		{"empty array", codecErr[struct {
			A [0]byte `binproto:"a"`
		}], "A", ErrFixedLength},
		{"len=0", codecErr[struct {
			A string `binproto:"a,len=0"`
		}], "A", ErrTag},
		{"len=x", codecErr[struct {
			A string `binproto:"a,len=x"`
		}], "A", ErrTag},
		{"two lens", codecErr[struct {
			A string `binproto:"a,len=1,len=2"`
		}], "A", ErrTag},
		{"two formats", codecErr[struct {
			A uint8 `binproto:"a,>B,<B"`
		}], "A", ErrTag},
		{"empty part", codecErr[struct {
			A uint8 `binproto:"a,,>B"`
		}], "A", ErrTag},
		{"empty name", codecErr[struct {
			A uint8 `binproto:",>B"`
		}], "A", ErrEmptyName},
		{"duplicate name", codecErr[struct {
			A uint8 `binproto:"x"`
			B uint8 `binproto:"x"`
		}], "B", ErrDuplicateName},
		{"unexported", codecErr[struct {
			a uint8 `binproto:"a"`
		}], "a", ErrUnexported},
		{"map", codecErr[struct {
			A map[string]int `binproto:"a"`
		}], "A", ErrGoType},
		{"nested struct", codecErr[struct {
			A inner `binproto:"a"`
		}], "A", ErrGoType},
		{"pointer field", codecErr[struct {
			A *uint8 `binproto:"a"`
		}], "A", ErrGoType},
		{"int slice", codecErr[struct {
			A []int `binproto:"a"`
		}], "A", ErrGoType},
		{"int array", codecErr[struct {
			A [2]int16 `binproto:"a"`
		}], "A", ErrGoType},
		{"complex", codecErr[struct {
			A complex64 `binproto:"a"`
		}], "A", ErrGoType},
		{"interface", codecErr[struct {
			A any `binproto:"a"`
		}], "A", ErrGoType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.codec()
			var se *StructureError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalidStructure) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want a StructureError wrapping %v", err, tt.want)
			}
			if se.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", se.Field, tt.field, err)
			}
		})
	}
}

func codecErr[T any]() error {
	_, err := NewCodec[T]()
	return err
}

func TestMustCodecPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustCodec did not panic")
		}
	}()
	MustCodec[int]()
}

func TestCodecValidTypes(t *testing.T) {
	// Wider Go types than their formats, defined types, and signed types
	// strictly wider than unsigned formats are accepted.
	type celsius float32
	type name string
	type blob []byte
	type ok struct {
		A int16   `binproto:"a,>B"`
		B int64   `binproto:"b,>I"`
		C uint64  `binproto:"c,>B"`
		D celsius `binproto:"d"`
		E name    `binproto:"e,len=3"`
		F blob    `binproto:"f"`
		G float64 `binproto:"g,>e"`
		H uintptr `binproto:"h"`
		I int     `binproto:"i,>i"`
		J bool    `binproto:"j,>?"`
	}
	c, err := NewCodec[ok]()
	if err != nil {
		t.Fatal(err)
	}
	in := ok{A: 255, B: 1 << 31, C: 3, D: 21.5, E: "ab", F: blob{9}, G: 0.5, H: 77, I: -2, J: true}
	p, err := c.AppendPayload(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	var out ok
	if err := c.DecodePayload(p, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v, %v; want %+v", out, err, in)
	}
}

// kitchenI and kitchenU fill the int and uint fields: values past 32 bits
// on 64-bit platforms, truncated (as variables, so that the package still
// compiles) on 32-bit ones.
var (
	kitchenI int64  = -1 << 40
	kitchenU uint64 = 1 << 63
)

func kitchenValue() kitchenVar {
	return kitchenVar{
		I8: -8, I16: -16, I32: -32, I64: 1<<32 - 1, I: int(kitchenI), U8: 8, U16: 16, U32: 32, U64: 65535,
		U: uint(kitchenU), F32: 1.25, F64: math.Pi, Half: 0.5, Narrow: 0.1, B: true, Untag: 7,
		Name: "héllo", Blob: []byte{1, 2}, Key: [4]byte{1, 2, 3, 4}, Native: -5, Little: 9, Big: -9,
		Byte: [1]byte{0xFF},
		Msg:  "message", Data: []byte{0, 1, 0}, Arr: [3]byte{7, 0, 9}, Tail: "é", Code: 0xdeadbeef, ID: [2]uint8{4, 5},
	}
}

// TestCodecMatchesStructure checks that a codec and its Structure put the
// same bytes on the wire and decode them to the same values.
func TestCodecMatchesStructure(t *testing.T) {
	fixed := MustCodec[kitchen]()
	variable := MustCodec[kitchenVar]()
	if fixed.Structure().Variable() || !variable.Structure().Variable() {
		t.Fatal("wrong shapes")
	}
	in := kitchenValue()
	inFixed := in.fixed()
	for _, tc := range []struct {
		name string
		pl   *plan
		ptr  unsafe.Pointer
		v    reflect.Value
	}{
		{"fixed", &fixed.plan, unsafe.Pointer(inFixed), reflect.ValueOf(inFixed).Elem()},
		{"variable", &variable.plan, unsafe.Pointer(&in), reflect.ValueOf(&in).Elem()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tv := typedValue{pl: tc.pl, v: tc.v}
			want, err := tc.pl.s.AppendPayload(nil, flatMap(tv))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.pl.appendPayload([]byte("xy"), tc.ptr)
			if err != nil || !bytes.Equal(got[2:], want) || string(got[:2]) != "xy" {
				t.Fatalf("typed %x, %v\ndynamic %x", got, err, want)
			}
			if !tc.pl.variable && len(want) != tc.pl.s.Size() {
				t.Errorf("payload %d bytes, Size %d", len(want), tc.pl.s.Size())
			}
			dyn, err := tc.pl.s.DecodePayload(want)
			if err != nil {
				t.Fatal(err)
			}
			for _, alias := range []bool{false, true} {
				out := reflect.New(tc.v.Type())
				if err := tc.pl.decode(want, out.UnsafePointer(), alias); err != nil {
					t.Fatal(err)
				}
				if err := sameMap(flatMapOf(tc.pl, out.Elem()), dyn); err != nil {
					t.Errorf("alias=%v: %v", alias, err)
				}
			}
		})
	}
}

// flatMap is toMap for structs with embedded structs.
func flatMap(tv typedValue) map[string]any { return flatMapOf(tv.pl, tv.v) }

func flatMapOf(pl *plan, v reflect.Value) map[string]any {
	m := make(map[string]any)
	for _, f := range reflect.VisibleFields(v.Type()) {
		tag := f.Tag.Get("binproto")
		if tag == "" || tag == "-" {
			continue
		}
		x := v.FieldByIndex(f.Index).Interface()
		if b, ok := asBytes(x); ok && f.Type.Kind() == reflect.Array {
			x = b
		}
		m[strings.Split(tag, ",")[0]] = x
	}
	return m
}

func TestCodecEncodeErrors(t *testing.T) {
	c := MustCodec[kitchenVar]()
	tests := []struct {
		name  string
		edit  func(v *kitchenVar)
		field string
		want  error
	}{
		{"int64 over >I", func(v *kitchenVar) { v.I64 = 1 << 32 }, "i64", wire.ErrRange},
		{"int64 under >I", func(v *kitchenVar) { v.I64 = -1 }, "i64", wire.ErrRange},
		{"uint64 over >H", func(v *kitchenVar) { v.U64 = 70000 }, "u64", wire.ErrRange},
		{"float32 over >e", func(v *kitchenVar) { v.Half = 1e5 }, "half", wire.ErrRange},
		{"float64 over >f", func(v *kitchenVar) { v.Narrow = 1e39 }, "narrow", wire.ErrRange},
		{"fixed str too long", func(v *kitchenVar) { v.Tail = "abc" }, "tail", ErrTooLong},
		{"fixed str invalid", func(v *kitchenVar) { v.Tail = "\xff" }, "tail", ErrInvalidUTF8},
		{"fixed bytes too long", func(v *kitchenVar) { v.Blob = []byte{1, 2, 3, 4} }, "blob", ErrTooLong},
		{"var str invalid", func(v *kitchenVar) { v.Msg = "a\x80" }, "msg", ErrInvalidUTF8},
		{"embedded fixed str too long", func(v *kitchenVar) { v.Name = "abcdefg" }, "name", ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := kitchenValue()
			tt.edit(&v)
			dst := []byte("keep")
			got, err := c.AppendPayload(dst, &v)
			var fe *FieldError
			if !errors.Is(err, tt.want) || !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want %v on %q", err, tt.want, tt.field)
			}
			if string(got) != "keep" {
				t.Errorf("dst = %q after an error", got)
			}
			// The dynamic structure agrees.
			_, derr := c.Structure().AppendPayload(nil, flatMap(typedValue{pl: &c.plan, v: reflect.ValueOf(&v).Elem()}))
			if !sameError(err, derr) {
				t.Errorf("dynamic err = %v, typed %v", derr, err)
			}
		})
	}
	fixed := MustCodec[kitchen]()
	kv := kitchenValue()
	v := kv.fixed()
	v.Name = "abcdefg"
	if _, err := fixed.AppendPayload(nil, v); !errors.Is(err, ErrTooLong) {
		t.Errorf("fixed structure, long name: %v", err)
	}
	if _, err := fixed.AppendPayload(nil, nil); !errors.Is(err, ErrType) {
		t.Errorf("nil value: %v", err)
	}
	if err := fixed.DecodePayload(nil, nil); !errors.Is(err, ErrType) {
		t.Errorf("nil value: %v", err)
	}
	if err := fixed.DecodePayloadNoCopy(nil, nil); !errors.Is(err, ErrType) {
		t.Errorf("nil value: %v", err)
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	s := MustCodec[sensor]()
	st := MustCodec[status]()
	type arr struct {
		A [3]byte `binproto:"a"`
		M string  `binproto:"m"`
	}
	a := MustCodec[arr]()
	tests := []struct {
		name   string
		decode func(p []byte) error
		hex    string
		field  string
		want   error
	}{
		{"sensor empty", func(p []byte) error { return s.DecodePayload(p, new(sensor)) }, "", "sensor1", wire.ErrTruncated},
		{"sensor short", func(p []byte) error { return s.DecodePayload(p, new(sensor)) }, strings.Repeat("00", 13), "sensor4", wire.ErrTruncated},
		{"sensor long", func(p []byte) error { return s.DecodePayloadNoCopy(p, new(sensor)) }, strings.Repeat("00", 17), "", wire.ErrTrailingBytes},
		{"status short", func(p []byte) error { return st.DecodePayload(p, new(status)) }, "0000", "status_code", wire.ErrTruncated},
		{"status no len", func(p []byte) error { return st.DecodePayload(p, new(status)) }, "00000001", "message", wire.ErrTruncated},
		{"status overstated", func(p []byte) error { return st.DecodePayload(p, new(status)) }, "000000010000000a616263", "message", wire.ErrLength},
		{"status huge", func(p []byte) error { return st.DecodePayloadNoCopy(p, new(status)) }, "00000001ffffffff", "message", wire.ErrLength},
		{"status UTF-8", func(p []byte) error { return st.DecodePayload(p, new(status)) }, "0000000100000001c3", "message", ErrInvalidUTF8},
		{"status trailing", func(p []byte) error { return st.DecodePayload(p, new(status)) }, "000000010000000061", "", wire.ErrTrailingBytes},
		{"array too long", func(p []byte) error { return a.DecodePayload(p, new(arr)) }, "000000040102030400000000", "a", ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := hex.DecodeString(tt.hex)
			err := tt.decode(p)
			var fe *FieldError
			if !errors.Is(err, tt.want) || !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want %v on %q", err, tt.want, tt.field)
			}
		})
	}
	// A short array value is zero-padded, overwriting what was there.
	out := arr{A: [3]byte{9, 9, 9}}
	if err := a.DecodePayload([]byte{0, 0, 0, 1, 5, 0, 0, 0, 0}, &out); err != nil || out.A != [3]byte{5, 0, 0} {
		t.Errorf("short array: %v, %v", out.A, err)
	}
}

func TestCodecCopyVersusAlias(t *testing.T) {
	type msg struct {
		S  string `binproto:"s"`
		B  []byte `binproto:"b"`
		FB []byte `binproto:"fb,len=2"`
	}
	c := MustCodec[msg]()
	p, err := c.AppendPayload(nil, &msg{S: "hello", B: []byte("world"), FB: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	var copied, aliased msg
	if err := c.DecodePayload(p, &copied); err != nil {
		t.Fatal(err)
	}
	if err := c.DecodePayloadNoCopy(p, &aliased); err != nil {
		t.Fatal(err)
	}
	inP := func(ptr *byte) bool {
		a := uintptr(unsafe.Pointer(ptr))
		return a >= uintptr(unsafe.Pointer(&p[0])) && a < uintptr(unsafe.Pointer(&p[0]))+uintptr(len(p))
	}
	if inP(unsafe.StringData(copied.S)) || inP(&copied.B[0]) || inP(&copied.FB[0]) {
		t.Error("DecodePayload aliases the input")
	}
	if !inP(unsafe.StringData(aliased.S)) || !inP(&aliased.B[0]) {
		t.Error("DecodePayloadNoCopy copies")
	}
	if cap(aliased.B) != len(aliased.B) {
		t.Errorf("aliased []byte has cap %d > len %d: appends would overwrite the payload", cap(aliased.B), len(aliased.B))
	}
	clear(p)
	if copied.S != "hello" || string(copied.B) != "world" || string(copied.FB) != "x" {
		t.Errorf("copies changed with the input: %+v", copied)
	}
}

func TestCodecSkipsFields(t *testing.T) {
	type s struct {
		A uint8 `binproto:"a"`
		B uint8
		C uint8 `binproto:"-"`
		d uint8
		E uint8 `binproto:"e"`
	}
	c := MustCodec[s]()
	p, err := c.AppendPayload(nil, &s{A: 1, B: 2, C: 3, d: 4, E: 5})
	if err != nil || !bytes.Equal(p, []byte{1, 5}) {
		t.Fatalf("got %x, %v", p, err)
	}
	var out s
	if err := c.DecodePayload(p, &out); err != nil || out != (s{A: 1, E: 5}) {
		t.Fatalf("decoded %+v, %v", out, err)
	}
}

func TestCodecEmptyStruct(t *testing.T) {
	c := MustCodec[struct{}]()
	p, err := c.AppendPayload(nil, &struct{}{})
	if err != nil || len(p) != 0 || c.Structure().Variable() || c.Structure().Size() != 0 {
		t.Fatalf("%x, %v", p, err)
	}
	if err := c.DecodePayload([]byte{1}, &struct{}{}); !errors.Is(err, wire.ErrTrailingBytes) {
		t.Errorf("err = %v", err)
	}
}

func TestFloat32NaNBitsKept(t *testing.T) {
	snan := math.Float32frombits(0x7fa00001) // a signalling NaN with a payload
	dyn, err := MustStructure(Float32("x")).AppendPayload(nil, map[string]any{"x": snan})
	if err != nil || hex.EncodeToString(dyn) != "7fa00001" {
		t.Errorf("dynamic: %x, %v", dyn, err)
	}
	type one struct {
		X float32 `binproto:"x"`
	}
	c := MustCodec[one]()
	typed, err := c.AppendPayload(nil, &one{snan})
	if err != nil || !bytes.Equal(typed, dyn) {
		t.Errorf("typed: %x, %v", typed, err)
	}
	var out one
	if err := c.DecodePayload(typed, &out); err != nil || math.Float32bits(out.X) != 0x7fa00001 {
		t.Errorf("typed decode: %#x, %v", math.Float32bits(out.X), err)
	}
}

// FuzzCodecRoundTrip encodes fuzzed values with a typed codec: either the
// typed and dynamic encoders fail alike, or decoding gives the values back.
func FuzzCodecRoundTrip(f *testing.F) {
	f.Add(int64(-8), uint64(65535), 0.1, "héllo", []byte{1, 2}, "message")
	f.Add(int64(1<<32), uint64(70000), 1e39, "\xff", []byte{1, 2, 3, 4}, "toolongtail")
	f.Add(int64(-1), uint64(0), math.NaN(), "", []byte(nil), "é")
	c := MustCodec[kitchenVar]()
	f.Fuzz(func(t *testing.T, i int64, u uint64, x float64, s string, b []byte, msg string) {
		in := kitchenValue()
		in.I64, in.I, in.U64, in.U, in.Narrow, in.F64 = i, int(i), u, uint(u), x, x
		in.Half, in.F32 = float32(x), float32(x)
		in.Name, in.Blob, in.Msg, in.Data, in.Tail = s, b, msg, b, msg
		p, err := c.AppendPayload(nil, &in)
		dyn, derr := c.Structure().AppendPayload(nil, flatMap(typedValue{pl: &c.plan, v: reflect.ValueOf(&in).Elem()}))
		if !sameError(err, derr) || !bytes.Equal(p, dyn) {
			t.Fatalf("typed %x, %v; dynamic %x, %v", p, err, dyn, derr)
		}
		if err != nil {
			return
		}
		var out kitchenVar
		if err := c.DecodePayload(p, &out); err != nil {
			t.Fatalf("decode: %v", err)
		}
		in.Untag, in.Ignored = 0, ""
		// Values that went through a narrower format come back rounded.
		in.Half = float32(MustStructure(Float16("h")).decodeOne(t, in.Half))
		in.Narrow = float64(float32(in.Narrow))
		if err := sameMap(flatMapOf(&c.plan, reflect.ValueOf(&out).Elem()), flatMapOf(&c.plan, reflect.ValueOf(&in).Elem())); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// decodeOne encodes v with the structure's single field and decodes it.
func (s *Structure) decodeOne(t *testing.T, v any) float64 {
	p, err := s.AppendPayload(nil, map[string]any{s.fields[0].Name: v})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	return m[s.fields[0].Name].(float64)
}

func TestRawPathBoolsAndRuns(t *testing.T) {
	type flags struct {
		A bool   `binproto:"a"`
		B bool   `binproto:"b"`
		C uint8  `binproto:"c"`
		D int16  `binproto:"d,<h"`
		E int16  `binproto:"e,<h"`
		F uint64 `binproto:"f,<Q"`
	}
	c := MustCodec[flags]()
	if len(c.plan.raw) != 4 { // a and b make one run; d and e another
		t.Errorf("%d raw runs, want 4: %+v", len(c.plan.raw), c.plan.raw)
	}
	p, err := c.AppendPayload(nil, &flags{true, false, 7, -2, 3, 1})
	if err != nil || hex.EncodeToString(p) != "010007feff03000100000000000000" {
		t.Fatalf("%x, %v", p, err)
	}
	p[1] = 2 // any non-zero byte is true
	var out flags
	if err := c.DecodePayload(p, &out); err != nil || out != (flags{true, true, 7, -2, 3, 1}) {
		t.Fatalf("%+v, %v", out, err)
	}
}
