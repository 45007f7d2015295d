package schema

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/binproto/binproto/wire"
)

// hugeLength is the largest length on the wire, as a variable so that the
// tests compile on 32-bit platforms, where the cases using it are skipped.
var hugeLength uint64 = math.MaxUint32

func TestNewStructureErrors(t *testing.T) {
	tests := []struct {
		name   string
		fields []Field
		field  string // the field the error names
		want   error
	}{
		{"no format", []Field{Num("a", "")}, "a", ErrMissingFormat},
		{"unknown code", []Field{Num("a", ">x")}, "a", wire.ErrFormat},
		{"unknown order", []Field{Num("a", "^f")}, "a", wire.ErrFormat},
		{"two codes", []Field{Num("a", ">ff")}, "a", wire.ErrFormat},
		{"pad code", []Field{Num("a", "x")}, "a", wire.ErrFormat},
		{"string code", []Field{Num("a", "s")}, "a", wire.ErrFormat},
		{"format on str", []Field{{Name: "a", Kind: KindString, Format: ">f"}}, "a", ErrUnexpectedFormat},
		{"format on bytes", []Field{{Name: "a", Kind: KindBytes, Format: "B"}}, "a", ErrUnexpectedFormat},
		{"empty name", []Field{Str("")}, "", ErrEmptyName},
		{"duplicate", []Field{Uint8("a"), Str("b"), Str("a")}, "a", ErrDuplicateName},
		{"negative length", []Field{FixedStr("a", -1)}, "a", ErrFixedLength},
		{"huge length", []Field{FixedBytes("a", int(hugeLength+1))}, "a", ErrFixedLength},
		{"huge structure", []Field{FixedBytes("a", int(hugeLength)), FixedBytes("b", 1)}, "b", ErrFixedLength},
		{"length on number", []Field{{Name: "a", Kind: KindNumber, Format: ">f", FixedLength: 4}}, "a", ErrFixedLength},
		{"zero kind", []Field{{Name: "a"}}, "a", ErrKind},
		{"bad kind", []Field{{Name: "a", Kind: 9}}, "a", ErrKind},
		{"second field", []Field{Float32("ok"), Num("bad", "")}, "bad", ErrMissingFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.HasPrefix(tt.name, "huge") && strconv.IntSize < 64 {
				t.Skip("an int cannot hold a length past 32 bits")
			}
			s, err := NewStructure(tt.fields...)
			if s != nil {
				t.Fatalf("got a structure, want an error")
			}
			var se *StructureError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *StructureError", err, err)
			}
			if !errors.Is(err, ErrInvalidStructure) || !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want ErrInvalidStructure and %v", err, tt.want)
			}
			if se.Field != tt.field {
				t.Errorf("Field = %q, want %q", se.Field, tt.field)
			}
			if tt.field != "" && !strings.Contains(err.Error(), `"`+tt.field+`"`) {
				t.Errorf("message %q does not name the field", err)
			}
			if strings.Count(err.Error(), "binproto:") != 1 {
				t.Errorf("message %q repeats the prefix", err)
			}
		})
	}
}

func TestMustStructurePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustStructure did not panic on an invalid structure")
		}
	}()
	MustStructure(Num("a", ""))
}

func TestStructureLayout(t *testing.T) {
	tests := []struct {
		name     string
		s        *Structure
		variable bool
		size     int
	}{
		{"empty", MustStructure(), false, 0},
		{"sensor", MustStructure(Float32("a"), Float32("b"), Float32("c"), Float32("d")), false, 16},
		{"status", MustStructure(Uint32("code"), Str("message")), true, 8},
		{"fixed strings", MustStructure(FixedStr("a", 8), FixedBytes("b", 3), Bool("c")), false, 12},
		{"fixed in variable", MustStructure(FixedStr("a", 8), Bytes("b"), Num("c", "<q")), true, 16},
		{"all widths", MustStructure(Int8("a"), Int16("b"), Int32("c"), Int64("d"), Uint8("e"), Uint16("f"),
			Uint32("g"), Uint64("h"), Float16("i"), Float32("j"), Float64("k"), Bool("l")), false, 1 + 2 + 4 + 8 + 1 + 2 + 4 + 8 + 2 + 4 + 8 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.s.Variable() != tt.variable || tt.s.Size() != tt.size {
				t.Errorf("Variable, Size = %v, %d; want %v, %d", tt.s.Variable(), tt.s.Size(), tt.variable, tt.size)
			}
			if sh := tt.s.Shape(); sh != (wire.Shape{Variable: tt.variable, Size: tt.size}) {
				t.Errorf("Shape = %+v", sh)
			}
		})
	}
}

func TestFieldsIsACopy(t *testing.T) {
	s := MustStructure(Uint8("a"), Str("b"))
	fs := s.Fields()
	fs[0].Name = "changed"
	if s.Fields()[0].Name != "a" {
		t.Error("Fields returned the structure's own slice")
	}
	in := []Field{Uint8("a")}
	s = MustStructure(in...)
	in[0].Name = "changed"
	if s.Fields()[0].Name != "a" {
		t.Error("NewStructure kept the caller's slice")
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindNumber: "number", KindString: "string", KindBytes: "bytes", 0: "Kind(0)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

// TestNumberEncoding checks numbers against bytes produced by CPython 3.11
// struct.pack on linux/amd64 (native "l" is 8 bytes there).
func TestNumberEncoding(t *testing.T) {
	tests := []struct {
		format string
		value  any
		hex    string
	}{
		{">b", int64(-1), "ff"},
		{"<b", int64(127), "7f"},
		{"B", int64(255), "ff"},
		{">h", int64(-2), "fffe"},
		{"<h", int64(-32768), "0080"},
		{"=h", int64(1), "0100"},
		{"!H", int64(4660), "1234"},
		{"<H", int64(4660), "3412"},
		{"@H", int64(4660), "3412"},
		{">i", int64(-70000), "fffeee90"},
		{"<i", int64(1), "01000000"},
		{"=i", int64(-1), "ffffffff"},
		{">I", int64(4294967295), "ffffffff"},
		{"<I", int64(3735928559), "efbeadde"},
		{">l", int64(-5), "fffffffb"},
		{"=l", int64(-5), "fbffffff"},
		{"<L", int64(7), "07000000"},
		{"@l", int64(-5), "fbffffffffffffff"},
		{"l", int64(3), "0300000000000000"},
		{"L", int64(3), "0300000000000000"},
		{"@L", int64(9), "0900000000000000"},
		{">q", int64(-1), "ffffffffffffffff"},
		{"<q", int64(4611686018427387904), "0000000000000040"},
		{">Q", uint64(18446744073709551615), "ffffffffffffffff"},
		{"<Q", int64(1), "0100000000000000"},
		{">e", 0.1, "2e66"},
		{"<e", -2.5, "00c1"},
		{">e", 65504.0, "7bff"},
		{">e", 65519.99, "7bff"},
		{">e", 5.960464477539063e-08, "0001"},
		{">e", 2.9802322387695312e-08, "0000"},
		{">e", 4.470348358154297e-08, "0001"},
		{">e", 1e-08, "0000"},
		{">e", math.Copysign(0, -1), "8000"},
		{">e", 8.940696716308594e-08, "0002"},
		{">e", 1.0009765625, "3c01"},
		{">e", 1.00048828125, "3c00"},
		{">e", 1.00146484375, "3c02"},
		{">e", 6.103515625e-05, "0400"},
		{">e", 6.097555160522461e-05, "03ff"},
		{">f", 0.1, "3dcccccd"},
		{"<f", -1e-45, "01000080"},
		{">f", 3.4028234663852886e+38, "7f7fffff"},
		{">f", 1e-46, "00000000"},
		{">d", 0.1, "3fb999999999999a"},
		{"<d", math.Inf(-1), "000000000000f0ff"},
		{"?", true, "01"},
		{"?", false, "00"},
		{"?", int64(5), "01"},
		{">?", int64(1), "01"},
		{">f", int64(3), "40400000"},
		{">d", int64(9007199254740993), "4340000000000000"},
		{">e", int64(3), "4200"},
		{">f", int64(16777217), "4b800000"},
		{">e", int64(-65504), "fbff"},
		// Other Go types of the same values.
		{">b", int8(-1), "ff"},
		{">H", uint16(4660), "1234"},
		{">H", int(4660), "1234"},
		{">H", uint(4660), "1234"},
		{">H", uint8(7), "0007"},
		{">H", int16(7), "0007"},
		{">H", int32(7), "0007"},
		{">H", uint32(7), "0007"},
		{">H", uintptr(7), "0007"},
		{">H", 7.0, "0007"},
		{">H", float32(7), "0007"},
		{">Q", 1.8446744073709550e19, "fffffffffffff800"},
		{">f", float32(0.1), "3dcccccd"},
		{">f", uint64(1 << 40), "53800000"},
		{"?", uint8(0), "00"},
		{"?", 2.0, "01"},
	}
	for _, tt := range tests {
		s := MustStructure(Num("v", tt.format))
		got, err := s.AppendPayload([]byte{0xAA}, map[string]any{"v": tt.value})
		if err != nil {
			t.Errorf("%q %T(%v): %v", tt.format, tt.value, tt.value, err)
			continue
		}
		if h := hex.EncodeToString(got); h != "aa"+tt.hex {
			t.Errorf("%q %T(%v) = %s, want aa%s", tt.format, tt.value, tt.value, h, tt.hex)
		}
	}
}

func TestAppendPayloadErrors(t *testing.T) {
	fixed := MustStructure(Int8("i8"), Uint16("u16"), FixedStr("name", 4), FixedBytes("key", 2), Bool("ok"), Float16("half"))
	good := func() map[string]any {
		return map[string]any{"i8": 1, "u16": 2, "name": "ab", "key": []byte{1}, "ok": true, "half": 1.5}
	}
	variable := MustStructure(Uint32("code"), Str("msg"), Bytes("blob"), FixedStr("short", 3), FixedBytes("b3", 3))
	goodVar := func() map[string]any {
		return map[string]any{"code": 1, "msg": "hi", "blob": []byte{}, "short": "abc", "b3": []byte{1, 2, 3}}
	}
	tests := []struct {
		name  string
		s     *Structure
		base  func() map[string]any
		key   string
		value any // nil with del: delete the key
		del   bool
		want  error
	}{
		{"missing", fixed, good, "u16", nil, true, ErrMissingField},
		{"missing var", variable, goodVar, "msg", nil, true, ErrMissingField},
		{"string for number", fixed, good, "u16", "2", false, ErrType},
		{"nil for number", fixed, good, "u16", nil, false, ErrType},
		{"bool for int", fixed, good, "i8", true, false, ErrType},
		{"bool for float", fixed, good, "half", false, false, ErrType},
		{"[]byte for str", fixed, good, "name", []byte("ab"), false, ErrType},
		{"string for bytes", fixed, good, "key", "a", false, ErrType},
		{"int for str", variable, goodVar, "msg", 3, false, ErrType},
		{"string for var bytes", variable, goodVar, "blob", "x", false, ErrType},
		{"int8 overflow", fixed, good, "i8", 128, false, wire.ErrRange},
		{"int8 underflow", fixed, good, "i8", int64(-129), false, wire.ErrRange},
		{"uint16 negative", fixed, good, "u16", -1, false, wire.ErrRange},
		{"uint16 overflow", fixed, good, "u16", uint32(65536), false, wire.ErrRange},
		{"uint16 non-integral", fixed, good, "u16", 1.5, false, wire.ErrRange},
		{"uint16 NaN", fixed, good, "u16", math.NaN(), false, wire.ErrRange},
		{"uint16 Inf", fixed, good, "u16", math.Inf(1), false, wire.ErrRange},
		{"uint32 negative", variable, goodVar, "code", -1, false, wire.ErrRange},
		{"uint32 2^32 float", variable, goodVar, "code", 4294967296.0, false, wire.ErrRange},
		{"half overflow float", fixed, good, "half", 65520.0, false, wire.ErrRange},
		{"half overflow int", fixed, good, "half", 70000, false, wire.ErrRange},
		{"half overflow uint", fixed, good, "half", uint64(70000), false, wire.ErrRange},
		{"bool non-integral", fixed, good, "ok", 0.5, false, wire.ErrRange},
		{"fixed str too long", fixed, good, "name", "abcde", false, ErrTooLong},
		{"fixed str multibyte too long", fixed, good, "name", "ééé", false, ErrTooLong},
		{"fixed bytes too long", fixed, good, "key", []byte{1, 2, 3}, false, ErrTooLong},
		{"fixed str in var too long", variable, goodVar, "short", "abcd", false, ErrTooLong},
		{"fixed bytes in var too long", variable, goodVar, "b3", []byte{1, 2, 3, 4}, false, ErrTooLong},
		{"invalid UTF-8 fixed", fixed, good, "name", "\xff", false, ErrInvalidUTF8},
		{"invalid UTF-8 var", variable, goodVar, "msg", "ok\xc3", false, ErrInvalidUTF8},
		{"surrogate", variable, goodVar, "msg", "\xed\xa0\x80", false, ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := tt.base()
			if _, err := tt.s.AppendPayload(nil, values); err != nil {
				t.Fatalf("base values: %v", err)
			}
			if tt.del {
				delete(values, tt.key)
			} else {
				values[tt.key] = tt.value
			}
			dst := make([]byte, 3, 64)
			copy(dst, "abc")
			got, err := tt.s.AppendPayload(dst, values)
			var fe *FieldError
			if !errors.Is(err, tt.want) || !errors.As(err, &fe) || fe.Field != tt.key {
				t.Fatalf("err = %v, want %v on field %q", err, tt.want, tt.key)
			}
			if string(got) != "abc" {
				t.Errorf("dst = %q after an error, want it unchanged", got)
			}
			if !strings.Contains(err.Error(), `"`+tt.key+`"`) {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

func TestAppendPayloadExtraKeysAndEmpty(t *testing.T) {
	s := MustStructure(Uint8("a"))
	got, err := s.AppendPayload(nil, map[string]any{"a": 1, "zzz": "ignored"})
	if err != nil || !bytes.Equal(got, []byte{1}) {
		t.Errorf("got %x, %v", got, err)
	}
	empty := MustStructure()
	got, err = empty.AppendPayload([]byte("x"), nil)
	if err != nil || string(got) != "x" {
		t.Errorf("empty structure: %q, %v", got, err)
	}
	m, err := empty.DecodePayload(nil)
	if err != nil || len(m) != 0 {
		t.Errorf("empty structure decode: %v, %v", m, err)
	}
	if _, err := empty.DecodePayload([]byte{0}); !errors.Is(err, wire.ErrTrailingBytes) {
		t.Errorf("empty structure decode of 1 byte: %v", err)
	}
}

func TestFixedPadding(t *testing.T) {
	s := MustStructure(FixedStr("s", 5), FixedBytes("b", 3))
	dst := bytes.Repeat([]byte{0xEE}, 16)[:0] // dirty spare capacity
	got, err := s.AppendPayload(dst, map[string]any{"s": "a\x00b", "b": []byte{}})
	if err != nil || hex.EncodeToString(got) != "6100620000000000" {
		t.Fatalf("got %x, %v", got, err)
	}
	m, err := s.DecodePayload(got)
	if err != nil {
		t.Fatal(err)
	}
	if m["s"] != "a" || !bytes.Equal(m["b"].([]byte), []byte{0, 0, 0}) {
		t.Errorf("decoded %#v", m)
	}
}

func TestDecodePayloadErrors(t *testing.T) {
	sensor := MustStructure(Float32("s1"), Float32("s2"), Float32("s3"), Float32("s4"))
	status := MustStructure(Uint32("code"), Str("message"))
	fixedStr := MustStructure(FixedStr("name", 4), Uint8("n"))
	inVar := MustStructure(FixedStr("name", 3), Bytes("blob"))
	tests := []struct {
		name  string
		s     *Structure
		hex   string
		field string
		want  error
	}{
		{"sensor empty", sensor, "", "s1", wire.ErrTruncated},
		{"sensor 15 bytes", sensor, strings.Repeat("00", 15), "s4", wire.ErrTruncated},
		{"sensor 17 bytes", sensor, strings.Repeat("00", 17), "", wire.ErrTrailingBytes},
		{"status short code", status, "000000", "code", wire.ErrTruncated},
		{"status no length", status, "000000c8", "message", wire.ErrTruncated},
		{"status short length", status, "000000c8000000", "message", wire.ErrTruncated},
		{"status length past end", status, "000000c80000000568656c6c", "message", wire.ErrLength},
		{"status huge length", status, "000000c8ffffffff", "message", wire.ErrLength},
		{"status trailing", status, "000000c80000000168ff", "", wire.ErrTrailingBytes},
		{"status invalid UTF-8", status, "000000c800000001ff", "message", ErrInvalidUTF8},
		{"fixed str invalid UTF-8", fixedStr, "c300000001", "name", ErrInvalidUTF8},
		{"fixed str truncated", fixedStr, "616263", "name", wire.ErrTruncated},
		{"fixed in var too long", inVar, "0000000461626364" + "00000000", "name", ErrTooLong},
		{"fixed in var invalid UTF-8", inVar, "00000001ff" + "00000000", "name", ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := hex.DecodeString(tt.hex)
			m, err := tt.s.DecodePayload(p)
			var fe *FieldError
			if m != nil || !errors.Is(err, tt.want) || !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, %v; want %v on field %q", m, err, tt.want, tt.field)
			}
		})
	}
}

func TestDecodePayloadTypesAndCopies(t *testing.T) {
	s := MustStructure(Int8("i"), Uint16("u"), Float16("e"), Float32("f"), Bool("b"), FixedStr("fs", 4), FixedBytes("fb", 2))
	p, err := s.AppendPayload(nil, map[string]any{"i": -3, "u": 9, "e": 0.5, "f": -1, "b": true, "fs": "é", "fb": []byte{7}})
	if err != nil {
		t.Fatal(err)
	}
	p[9] = 2 // the bool byte: any non-zero byte is true
	m, err := s.DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"i": int64(-3), "u": uint64(9), "e": 0.5, "f": -1.0, "b": true, "fs": "é", "fb": []byte{7, 0}}
	for k, v := range want {
		if !bytes.Equal(asBytesOr(m[k]), asBytesOr(v)) && m[k] != v {
			t.Errorf("%s = %#v (%T), want %#v (%T)", k, m[k], m[k], v, v)
		}
	}
	clear(p)
	if !bytes.Equal(m["fb"].([]byte), []byte{7, 0}) || m["fs"] != "é" {
		t.Error("decoded values share the input buffer")
	}

	v := MustStructure(Bytes("b"), Str("s"))
	p, _ = v.AppendPayload(nil, map[string]any{"b": []byte{}, "s": ""})
	m, err = v.DecodePayload(p)
	if err != nil || m["b"] == nil || len(m["b"].([]byte)) != 0 || m["s"] != "" {
		t.Errorf("empty values decoded as %#v, %v", m, err)
	}
}

func asBytesOr(v any) []byte {
	b, _ := v.([]byte)
	return b
}

func TestSameLayout(t *testing.T) {
	base := MustStructure(Uint16("a"), Float32("b"), FixedStr("c", 4), Int8("d"))
	tests := []struct {
		name string
		o    *Structure
		want bool
	}{
		{"itself", base, true},
		{"other names", MustStructure(Uint16("x"), Float32("y"), FixedStr("z", 4), Int8("w")), true},
		{"same meaning, other spelling", MustStructure(Num("a", "!H"), Num("b", ">f"), FixedStr("c", 4), Num("d", "<b")), true},
		{"byte order", MustStructure(Num("a", "<H"), Float32("b"), FixedStr("c", 4), Int8("d")), false},
		{"signedness", MustStructure(Int16("a"), Float32("b"), FixedStr("c", 4), Int8("d")), false},
		{"int for float", MustStructure(Uint16("a"), Uint32("b"), FixedStr("c", 4), Int8("d")), false},
		{"bytes for str", MustStructure(Uint16("a"), Float32("b"), FixedBytes("c", 4), Int8("d")), false},
		{"bool for uint8", MustStructure(Uint16("a"), Float32("b"), FixedStr("c", 4), Bool("d")), false},
		{"swapped fields, same size", MustStructure(Float32("b"), Uint16("a"), FixedStr("c", 4), Int8("d")), false},
		{"fixed length", MustStructure(Uint16("a"), Float32("b"), FixedStr("c", 3), Uint8("d"), Uint8("e")), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := base.SameLayout(tt.o); got != tt.want {
			t.Errorf("%s: SameLayout = %v, want %v", tt.name, got, tt.want)
		}
		if tt.o != nil {
			if got := tt.o.SameLayout(base); got != tt.want {
				t.Errorf("%s (reversed): SameLayout = %v, want %v", tt.name, got, tt.want)
			}
		}
	}
	// Variable structures: the maximum length of a str counts.
	v := MustStructure(Str("s"), FixedBytes("k", 8))
	if !v.SameLayout(MustStructure(Str("t"), FixedBytes("l", 8))) {
		t.Error("variable structures with other names differ")
	}
	if v.SameLayout(MustStructure(Str("s"), FixedBytes("k", 9))) {
		t.Error("a variable structure's field limit is ignored")
	}
	var nilS *Structure
	if !nilS.SameLayout(nil) {
		t.Error("nil differs from nil")
	}
}
