package schema

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	goldenvec "github.com/binproto/binproto/internal/golden"
	"github.com/binproto/binproto/wire"
)

const goldenPath = "../testdata/golden_vectors.jsonl"

// vector is one golden vector (see internal/golden).
type vector = goldenvec.Vector

// golden is a vector with the binproto objects built from it.
type golden struct {
	*vector
	s       *Structure
	framing *wire.Framing
	data    map[string]any // Data with JSON values converted to Go values
	decoded map[string]any
	raw     []byte // Hex decoded
}

// deviations lists the vectors recording Python behaviour that binproto
// deliberately does not copy (wire-format.md, last section), with why and
// what binproto does instead. Every other vector must match exactly.
var deviations = map[string]struct {
	why   string
	check func(t *testing.T, g *golden)
}{
	"fixedstr8_overflow10_nock":             {"over-long fixed str: Python grows the frame", tooLongFrame(wire.ErrTrailingBytes)},
	"fixedstr8_overflow10_crc32_be4":        {"over-long fixed str: Python grows the frame", tooLongFrame(wire.ErrChecksum)},
	"fixedstr8_then_u32_overflow":           {"over-long fixed str: Python grows the frame and overwrites it", tooLongFrame(wire.ErrTrailingBytes)},
	"fixedstr8_in_variable_struct_overlong": {"fixed length also bounds fixed fields of variable structures", tooLongFrame(ErrTooLong)},
	"dec_var_inner_len_overstated":          {"Python silently truncates an inner length past total_len", checkInnerLength},
	"dec_fixed_extra_trailing_byte":         {"Python's fast path ignores extra bytes; ParseExact refuses them", checkExtraByte},
	"unknown_raw_int_34_nock":               {"Python sends the header alone for a raw int type", checkUnknownRawInt},
	"raw_int_equal_to_fixed_enum_value":     {"Go has no enum/int distinction: the full frame is sent", checkRawIntFullFrame},
	"not_found_>H_nock":                     {"Python cannot decode NOT_FOUND; binproto parses it as a header-only frame", checkNotFound},
	"not_found_>B_nock":                     {"Python cannot decode NOT_FOUND; binproto parses it as a header-only frame", checkNotFound},
	"not_found_>I_nock":                     {"Python cannot decode NOT_FOUND; binproto parses it as a header-only frame", checkNotFound},
	"not_found_>I_crc32_be4":                {"Python checks a checksum on NOT_FOUND; binproto never does", checkNotFound},
	"not_found_<H_crc32_be4":                {"Python checks a checksum on NOT_FOUND; binproto never does", checkNotFound},
	"not_found_signed_header_h":             {"NOT_FOUND (the largest header value) cannot be 65535 with \">h\"", checkSignedNotFound},
	"dec_not_found":                         {"Python raises on NOT_FOUND; binproto returns the frame and never dispatches it", checkNotFound},
}

func TestGoldenVectors(t *testing.T) {
	vectors := loadVectors(t)
	if len(vectors) != 118 {
		t.Errorf("%d vectors in %s, want 118", len(vectors), goldenPath)
	}
	ids := make(map[string]bool)
	for _, v := range vectors {
		if ids[v.ID] {
			t.Errorf("duplicate vector id %q", v.ID)
		}
		ids[v.ID] = true
		t.Run(v.ID, func(t *testing.T) {
			g := newGolden(t, v)
			if d, ok := deviations[v.ID]; ok {
				t.Logf("deviation: %s", d.why)
				d.check(t, g)
			} else {
				checkMatched(t, g)
			}
			checkTypedAgrees(t, g)
		})
	}
	for id := range deviations {
		if !ids[id] {
			t.Errorf("deviation %q lists no vector of %s", id, goldenPath)
		}
	}
}

func loadVectors(t testing.TB) []*vector {
	vs, err := goldenvec.Load(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// newGolden builds the structure and framing of v. Raw-int vectors give a
// type that is not the structure's: the structure is registered under 1,
// the type of the sensor enum the Python script used.
func newGolden(t *testing.T, v *vector) *golden {
	g := &golden{vector: v}
	var fields []Field
	for _, f := range v.Structure {
		n := 0
		if f.FixedLength != nil {
			n = *f.FixedLength
		}
		switch f.Type {
		case "int", "float":
			fields = append(fields, Num(f.Name, f.Format))
		case "str":
			fields = append(fields, FixedStr(f.Name, n))
		case "bytes":
			fields = append(fields, FixedBytes(f.Name, n))
		default:
			t.Fatalf("field type %q", f.Type)
		}
	}
	var err error
	if g.s, err = NewStructure(fields...); err != nil {
		t.Fatal(err)
	}
	header, err := wire.ParseFormat(v.Config.HeaderFormat)
	if err != nil {
		t.Fatal(err)
	}
	g.framing = &wire.Framing{Header: header, NotFound: header.MaxUint()}
	switch {
	case v.Config.Checksum == nil:
	case *v.Config.Checksum == "crc32_be4":
		g.framing.Checksum = wire.CRC32
	default:
		t.Fatalf("checksum %q is neither matched nor listed as a deviation", *v.Config.Checksum)
	}
	registered := v.MsgType
	if !v.MsgTypeIsEnum {
		registered = 1
	}
	g.framing.Shapes = wire.NewShapes(map[uint64]wire.Shape{registered: g.s.Shape()})
	g.data = jsonValues(t, v.Data)
	g.decoded = jsonValues(t, v.Decoded)
	if v.Hex != nil {
		if g.raw, err = hex.DecodeString(*v.Hex); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func jsonValues(t *testing.T, m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = jsonValue(t, v)
	}
	return out
}

// jsonValue converts a JSON value: integers to int64 or uint64, other
// numbers to float64, {"$bytes": hex} to []byte, {"$float": "nan"} to float64.
func jsonValue(t *testing.T, v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
			return u
		}
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil {
			t.Fatalf("number %s: %v", x, err)
		}
		return f
	case map[string]any:
		if h, ok := x["$bytes"].(string); ok {
			b, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		if s, ok := x["$float"].(string); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		t.Fatalf("JSON object %v", x)
	}
	return v
}

// encodeFrame frames the payload of values as type typ.
func (g *golden) encodeFrame(s *Structure, typ uint64, values map[string]any) ([]byte, error) {
	sh, ok := g.framing.Shapes.Lookup(typ)
	if !ok {
		return nil, &wire.UnknownTypeError{Type: typ}
	}
	frame, err := g.framing.BeginFrame(nil, typ, sh.Variable)
	if err != nil {
		return nil, err
	}
	if frame, err = s.AppendPayload(frame, values); err != nil {
		return nil, err
	}
	return g.framing.FinishFrame(frame, 0, sh.Variable)
}

// decodeFrame parses raw as exactly one frame and decodes its payload.
func (g *golden) decodeFrame(raw []byte) (map[string]any, error) {
	fr, err := g.framing.ParseExact(raw)
	if err != nil {
		return nil, err
	}
	if fr.Type == g.framing.NotFound {
		return nil, errors.New("NOT_FOUND frame")
	}
	return g.s.DecodePayload(fr.Payload)
}

var expectedRE = regexp.MustCompile(`expected (\d+) bytes, got (\d+)`)

// pythonSentinel maps the exception text Python raised to the binproto
// sentinel for the same failure.
func pythonSentinel(t *testing.T, msg string) error {
	switch {
	case strings.Contains(msg, "format requires"), strings.Contains(msg, "argument out of range"),
		strings.Contains(msg, "too large to pack"), strings.Contains(msg, "not an integer"):
		return wire.ErrRange
	case strings.Contains(msg, "Checksum verification failed"):
		return wire.ErrChecksum
	case strings.Contains(msg, "Invalid message type"):
		return wire.ErrUnknownType
	case strings.Contains(msg, "UnicodeDecodeError"):
		return ErrInvalidUTF8
	case strings.Contains(msg, "unpack_from requires a buffer"), strings.Contains(msg, "Data too short"):
		return wire.ErrTruncated
	}
	if m := expectedRE.FindStringSubmatch(msg); m != nil {
		want, _ := strconv.Atoi(m[1])
		got, _ := strconv.Atoi(m[2])
		if got < want {
			return wire.ErrTruncated
		}
		return wire.ErrTrailingBytes
	}
	t.Fatalf("Python error %q maps to no binproto error", msg)
	return nil
}

// checkMatched checks a vector binproto must reproduce exactly.
func checkMatched(t *testing.T, g *golden) {
	if !g.MsgTypeIsEnum {
		t.Fatalf("raw-int vector %s is neither matched nor listed as a deviation", g.ID)
	}
	switch g.Kind {
	case "encode":
		frame, err := g.encodeFrame(g.s, g.MsgType, g.data)
		if g.Error != nil {
			want := pythonSentinel(t, *g.Error)
			if !errors.Is(err, want) {
				t.Fatalf("encode: err = %v, want %v (Python: %s)", err, want, *g.Error)
			}
			return
		}
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if !bytes.Equal(frame, g.raw) {
			t.Fatalf("encode:\n got %x\nwant %x", frame, g.raw)
		}
		if g.DecodeError != nil {
			t.Fatalf("encode vector with decode_error %q is neither matched nor listed", *g.DecodeError)
		}
		checkDecode(t, g)
	case "decode":
		if g.DecodeError != nil {
			want := pythonSentinel(t, *g.DecodeError)
			if _, err := g.decodeFrame(g.raw); !errors.Is(err, want) {
				t.Fatalf("decode: err = %v, want %v (Python: %s)", err, want, *g.DecodeError)
			}
			return
		}
		checkDecode(t, g)
	default:
		t.Fatalf("kind %q is neither matched nor listed", g.Kind)
	}
}

func checkDecode(t *testing.T, g *golden) {
	t.Helper()
	got, err := g.decodeFrame(g.raw)
	if err != nil {
		t.Fatalf("decode %x: %v", g.raw, err)
	}
	if err := sameMap(got, g.decoded); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

func tooLongFrame(pythonBytes error) func(t *testing.T, g *golden) {
	return func(t *testing.T, g *golden) {
		_, err := g.encodeFrame(g.s, g.MsgType, g.data)
		var fe *FieldError
		if !errors.Is(err, ErrTooLong) || !errors.As(err, &fe) || fe.Field != "name" {
			t.Fatalf("encode: err = %v, want ErrTooLong on field name", err)
		}
		// The bytes Python sent are refused, not misread.
		if _, err := g.decodeFrame(g.raw); !errors.Is(err, pythonBytes) {
			t.Fatalf("decode of Python's %x: err = %v, want %v", g.raw, err, pythonBytes)
		}
	}
}

func checkInnerLength(t *testing.T, g *golden) {
	if _, err := g.decodeFrame(g.raw); !errors.Is(err, wire.ErrLength) {
		t.Fatalf("decode: err = %v, want ErrLength", err)
	}
}

func checkExtraByte(t *testing.T, g *golden) {
	if _, err := g.framing.ParseExact(g.raw); !errors.Is(err, wire.ErrTrailingBytes) {
		t.Fatalf("ParseExact: err = %v, want ErrTrailingBytes", err)
	}
	rest, fr, ok, err := g.framing.ParseFrame(g.raw)
	if err != nil || !ok || len(rest) != 1 {
		t.Fatalf("ParseFrame: rest %x ok %v err %v, want 1 byte of rest", rest, ok, err)
	}
	got, err := g.s.DecodePayload(fr.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameMap(got, g.decoded); err != nil {
		t.Fatal(err)
	}
}

func checkUnknownRawInt(t *testing.T, g *golden) {
	if _, err := g.encodeFrame(g.s, g.MsgType, g.data); !errors.Is(err, wire.ErrUnknownType) {
		t.Fatalf("encode type %d: err = %v, want ErrUnknownType", g.MsgType, err)
	}
	if _, err := g.framing.ParseExact(g.raw); !errors.Is(err, wire.ErrUnknownType) {
		t.Fatalf("decode of Python's %x: err = %v, want ErrUnknownType", g.raw, err)
	}
}

func checkRawIntFullFrame(t *testing.T, g *golden) {
	frame, err := g.encodeFrame(g.s, g.MsgType, g.data)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("00013fc00000c01000003e00000040400000")
	if !bytes.Equal(frame, want) {
		t.Fatalf("encode:\n got %x\nwant %x", frame, want)
	}
	if _, err := g.framing.ParseExact(g.raw); !errors.Is(err, wire.ErrTruncated) {
		t.Fatalf("decode of Python's header-only %x: err = %v, want ErrTruncated", g.raw, err)
	}
}

func checkNotFound(t *testing.T, g *golden) {
	if got := g.framing.AppendNotFound(nil); g.Kind == "encode" && !bytes.Equal(got, g.raw) {
		t.Fatalf("AppendNotFound = %x, want %x", got, g.raw)
	}
	fr, err := g.framing.ParseExact(g.raw)
	if err != nil || fr.Type != g.framing.NotFound || len(fr.Payload) != 0 {
		t.Fatalf("ParseExact(%x) = %+v, %v; want the NOT_FOUND frame", g.raw, fr, err)
	}
}

func checkSignedNotFound(t *testing.T, g *golden) {
	if g.framing.NotFound != 32767 {
		t.Errorf("NotFound of %q = %d, want 32767", g.Config.HeaderFormat, g.framing.NotFound)
	}
	err := g.framing.Header.CheckUint(g.MsgType)
	if want := pythonSentinel(t, *g.Error); !errors.Is(err, want) {
		t.Fatalf("CheckUint(%d) = %v, want %v", g.MsgType, err, want)
	}
}

// checkTypedAgrees checks that typed codecs built for the vector's
// structure (several Go type choices) agree with the dynamic structure: the
// same payload or the same error on encode, the same values on decode.
func checkTypedAgrees(t *testing.T, g *golden) {
	var payload []byte
	if g.raw != nil {
		if fr, err := g.framing.ParseExact(g.raw); err == nil && fr.Type != g.framing.NotFound {
			payload = fr.Payload
		}
	}
	for _, variant := range []struct{ wide, array bool }{{false, false}, {true, false}, {false, true}} {
		name := fmt.Sprintf("wide=%v,array=%v", variant.wide, variant.array)
		pl, typ, err := structFor(g.s, variant.wide, variant.array)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g.data != nil && len(g.s.Fields()) > 0 {
			tv := newTyped(pl, typ)
			if fillTyped(tv, g.data) {
				want, wantErr := g.s.AppendPayload(nil, tv.toMap(true))
				got, err := pl.appendPayload(nil, tv.ptr())
				if !sameError(err, wantErr) || !bytes.Equal(got, want) {
					t.Errorf("%s: typed encode = %x, %v; dynamic = %x, %v", name, got, err, want, wantErr)
				}
			}
		}
		if payload != nil {
			checkTypedDecode(t, name, g.s, pl, typ, payload)
		}
	}
}

// fillTyped sets the fields of tv from data, reporting false if a value
// does not fit its Go type.
func fillTyped(tv typedValue, data map[string]any) bool {
	for j := range tv.v.NumField() {
		tag := tv.v.Type().Field(j).Tag.Get("binproto")
		if tag == "" {
			continue
		}
		v, ok := data[strings.Split(tag, ",")[0]]
		if !ok || !setValue(tv.v.Field(j), v) {
			return false
		}
	}
	return true
}

func checkTypedDecode(t *testing.T, name string, s *Structure, pl *plan, typ reflect.Type, payload []byte) {
	t.Helper()
	want, wantErr := s.DecodePayload(payload)
	for _, alias := range []bool{false, true} {
		tv := newTyped(pl, typ)
		err := pl.decode(payload, tv.ptr(), alias)
		if !sameError(err, wantErr) {
			t.Errorf("%s alias=%v: typed decode err = %v, dynamic %v", name, alias, err, wantErr)
			continue
		}
		if err == nil {
			if err := sameMap(tv.toMap(false), want); err != nil {
				t.Errorf("%s alias=%v: typed decode: %v", name, alias, err)
			}
		}
	}
}

func TestGoldenFloatEdges(t *testing.T) {
	// NaN and infinities go through the dynamic and typed paths alike.
	s := MustStructure(Float16("e"), Float32("f"), Float64("d"))
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1)} {
		p, err := s.AppendPayload(nil, map[string]any{"e": x, "f": x, "d": x})
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.DecodePayload(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"e", "f", "d"} {
			got := m[k].(float64)
			if !sameValue(got, x) || math.Signbit(got) != math.Signbit(x) {
				t.Errorf("%v through %q = %v", x, k, got)
			}
		}
	}
}
