package schemafile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/binproto/binproto/schema"
	"github.com/binproto/binproto/wire"
)

// ErrValue is wrapped by the errors of message values given as JSON or as
// name=value pairs.
var ErrValue = errors.New("bad message value")

// valueErr returns an error naming the type and field.
func (t *Type) valueErr(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = "field " + field + ": " + msg
	}
	return fmt.Errorf("type %s: %s: %w", t.Name, msg, ErrValue)
}

// FromJSON converts a JSON object into the values of a message of type t:
// numbers as the field's format holds them (int64, uint64, float64 or
// bool; a float also accepts "NaN", "Inf", "-Inf"), strings as strings,
// bytes as base64 strings. Every field must be given, and no other.
func (t *Type) FromJSON(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, t.valueErr("", "not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, t.valueErr("", "more than one JSON value")
	}
	if raw == nil {
		return nil, t.valueErr("", "not a JSON object")
	}
	out := make(map[string]any, len(t.Fields))
	for name := range raw {
		if !slices.ContainsFunc(t.Fields, func(f Field) bool { return f.Name == name }) {
			return nil, t.valueErr(name, "no such field (fields: %s)", t.fieldNames())
		}
	}
	for _, f := range t.Fields {
		v, ok := raw[f.Name]
		if !ok {
			return nil, t.valueErr(f.Name, "missing")
		}
		val, err := fromJSONValue(f.Field, v)
		if err != nil {
			return nil, t.valueErr(f.Name, "%v", err)
		}
		out[f.Name] = val
	}
	return out, nil
}

// FromPairs converts name=value pairs into the values of a message of type
// t: numbers in Go syntax (floats also NaN, Inf, -Inf; bools true/false),
// strings and bytes as the text after '='. Every field must be given once.
func (t *Type) FromPairs(pairs []string) (map[string]any, error) {
	out := make(map[string]any, len(t.Fields))
	for _, p := range pairs {
		name, text, ok := strings.Cut(p, "=")
		if !ok {
			return nil, t.valueErr("", "%q is not name=value", p)
		}
		i := slices.IndexFunc(t.Fields, func(f Field) bool { return f.Name == name })
		if i < 0 {
			return nil, t.valueErr(name, "no such field (fields: %s)", t.fieldNames())
		}
		if _, dup := out[name]; dup {
			return nil, t.valueErr(name, "given twice")
		}
		v, err := fromText(t.Fields[i].Field, text)
		if err != nil {
			return nil, t.valueErr(name, "%v", err)
		}
		out[name] = v
	}
	for _, f := range t.Fields {
		if _, ok := out[f.Name]; !ok {
			return nil, t.valueErr(f.Name, "missing")
		}
	}
	return out, nil
}

func (t *Type) fieldNames() string {
	names := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// fromJSONValue converts one decoded JSON value (json.Number for numbers).
func fromJSONValue(f schema.Field, v any) (any, error) {
	switch f.Kind {
	case schema.KindString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", jsonKind(v))
		}
		return s, nil
	case schema.KindBytes:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want base64 bytes in a string, got %s", jsonKind(v))
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("not base64: %v", err)
		}
		return b, nil
	}
	format := wire.MustParseFormat(f.Format)
	switch x := v.(type) {
	case bool:
		if format.Class() != wire.ClassBool {
			return nil, fmt.Errorf("want a number for format %q, got a bool", f.Format)
		}
		return x, nil
	case json.Number:
		if format.Class() == wire.ClassBool {
			return nil, fmt.Errorf("want true or false for format %q, got %s", f.Format, x)
		}
		return parseNumber(format, string(x))
	case string:
		if format.Class() == wire.ClassFloat {
			return parseNumber(format, x)
		}
	}
	return nil, fmt.Errorf("want a %s for format %q, got %s", classWord(format), f.Format, jsonKind(v))
}

// fromText converts the text of a name=value pair.
func fromText(f schema.Field, text string) (any, error) {
	switch f.Kind {
	case schema.KindString:
		return text, nil
	case schema.KindBytes:
		return []byte(text), nil
	}
	format := wire.MustParseFormat(f.Format)
	if format.Class() == wire.ClassBool {
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", text)
		}
		return b, nil
	}
	return parseNumber(format, text)
}

// parseNumber parses s as a value of format's class.
func parseNumber(format wire.Format, s string) (any, error) {
	switch format.Class() {
	case wire.ClassInt:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want a whole number for format %q, got %q", format.String(), s)
		}
		return v, nil
	case wire.ClassUint:
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want a whole number >= 0 for format %q, got %q", format.String(), s)
		}
		return v, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("want a number for format %q, got %q", format.String(), s)
	}
	return v, nil
}

func classWord(f wire.Format) string {
	switch f.Class() {
	case wire.ClassInt, wire.ClassUint:
		return "whole number"
	case wire.ClassBool:
		return "bool"
	}
	return "number"
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a bool"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	}
	return "an object"
}

// AppendJSON appends values, a message of type t as Structure.DecodePayload
// returns it (or as FromJSON does), as one JSON object with the fields in
// declaration order: numbers as JSON numbers (floats of 4 or 2 bytes in
// their shortest form; NaN and infinities as strings), strings as strings,
// bytes as base64.
func (t *Type) AppendJSON(dst []byte, values map[string]any) []byte {
	dst = append(dst, '{')
	for i, f := range t.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, f.Name)
		dst = append(dst, ':')
		dst = appendJSONValue(dst, f.Field, values[f.Name])
	}
	return append(dst, '}')
}

func appendJSONValue(dst []byte, f schema.Field, v any) []byte {
	switch x := v.(type) {
	case string:
		b, _ := json.Marshal(x)
		return append(dst, b...)
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"')
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case bool:
		return strconv.AppendBool(dst, x)
	case float64:
		switch {
		case math.IsNaN(x):
			return append(dst, `"NaN"`...)
		case math.IsInf(x, 1):
			return append(dst, `"Inf"`...)
		case math.IsInf(x, -1):
			return append(dst, `"-Inf"`...)
		}
		bits := 64
		if f.Kind == schema.KindNumber && wire.MustParseFormat(f.Format).Size() <= 4 {
			bits = 32
		}
		return strconv.AppendFloat(dst, x, 'g', -1, bits)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}

// Sample returns the i-th message of a deterministic sequence of values of
// type t, of the declared shape: every number in its format's range (floats
// exactly representable in every float format), fixed-length strings and
// bytes of their full length, variable-length ones of varLen bytes. Values
// have the Go types Structure.DecodePayload returns, so that a decoded
// echo equals the sample (see Equal). Strings are ASCII letters.
func (t *Type) Sample(i, varLen int) map[string]any {
	out := make(map[string]any, len(t.Fields))
	for j, f := range t.Fields {
		h := mix(uint64(i)*0x9E3779B97F4A7C15 + uint64(j+1)*0xBF58476D1CE4E5B9 + t.Code)
		n := f.FixedLength
		if n == 0 {
			n = varLen
		}
		switch f.Kind {
		case schema.KindString:
			b := make([]byte, n)
			for k := range b {
				b[k] = 'a' + byte((h+uint64(k)*7)%26)
			}
			out[f.Name] = string(b)
		case schema.KindBytes:
			b := make([]byte, n)
			for k := range b {
				b[k] = byte(mix(h + uint64(k)))
			}
			out[f.Name] = b
		default:
			out[f.Name] = sampleNumber(wire.MustParseFormat(f.Format), h)
		}
	}
	return out
}

// sampleNumber returns a value of format drawn from h.
func sampleNumber(f wire.Format, h uint64) any {
	bits := uint(8 * f.Size())
	switch f.Class() {
	case wire.ClassInt:
		return int64(h) >> (64 - bits)
	case wire.ClassUint:
		return h >> (64 - bits)
	case wire.ClassBool:
		return h&1 == 1
	}
	// Quarters from -256 to 255.75: exact in float16, float32 and float64.
	return float64(int64(h%2048)-1024) / 4
}

// mix is SplitMix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	return x ^ x>>31
}

// Equal reports whether a and b hold the same value for every field of t.
func (t *Type) Equal(a, b map[string]any) bool {
	for _, f := range t.Fields {
		if !reflect.DeepEqual(a[f.Name], b[f.Name]) {
			return false
		}
	}
	return true
}
