package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// The benchmark messages: sensor is four big-endian float32 values;
// statusN is a ">I" code and a variable-length string of N bytes.
var (
	benchSensor    = sensor{1.5, -2.25, 0.125, 3}
	benchStatus100 = status{Code: 200, Message: strings.Repeat("x", 100)}
	benchStatus1k  = status{Code: 200, Message: strings.Repeat("x", 1024)}
)

// statusHeader is the fixed part of a status payload, as an encoding/binary
// user would declare it.
type statusHeader struct {
	Code uint32
	Len  uint32
}

var errBench = errors.New("bad payload")

// BenchmarkCodec compares the typed and dynamic APIs with encoding/binary
// (Append/Decode and the Write/Read reflection path) and with handwritten
// code (the floor), as BenchmarkCodec/<api>/<message>/<op>.
func BenchmarkCodec(b *testing.B) {
	type message struct {
		name   string
		status *status // nil for sensor
	}
	messages := []message{{"sensor", nil}, {"status100", &benchStatus100}, {"status1k", &benchStatus1k}}
	apis := []struct {
		name string
		run  func(b *testing.B, st *status, decode bool)
	}{
		{"typed", benchTyped},
		{"dynamic", benchDynamic},
		{"binaryAppend", benchBinaryAppend},
		{"binaryWrite", benchBinaryWrite},
		{"handwritten", benchHandwritten},
	}
	for _, api := range apis {
		b.Run(api.name, func(b *testing.B) {
			for _, m := range messages {
				b.Run(m.name, func(b *testing.B) {
					b.Run("encode", func(b *testing.B) { api.run(b, m.status, false) })
					b.Run("decode", func(b *testing.B) { api.run(b, m.status, true) })
				})
			}
		})
	}
}

// payloadOf returns the reference payload of a benchmark message.
func payloadOf(b *testing.B, st *status) []byte {
	var p []byte
	var err error
	if st == nil {
		p, err = MustCodec[sensor]().AppendPayload(nil, &benchSensor)
	} else {
		p, err = MustCodec[status]().AppendPayload(nil, st)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	return p
}

// check fails the benchmark if got differs from the reference payload.
func check(b *testing.B, got, want []byte) {
	if !bytes.Equal(got, want) {
		b.Fatalf("payload %x, want %x", got, want)
	}
}

func benchTyped(b *testing.B, st *status, decode bool) {
	want := payloadOf(b, st)
	buf := make([]byte, 0, 2048)
	var err error
	switch {
	case st == nil && !decode:
		c, v := MustCodec[sensor](), benchSensor
		for b.Loop() {
			buf, err = c.AppendPayload(buf[:0], &v)
		}
	case st == nil:
		c, v := MustCodec[sensor](), sensor{}
		for b.Loop() {
			err = c.DecodePayload(want, &v)
		}
		buf, _ = c.AppendPayload(nil, &v)
	case !decode:
		c := MustCodec[status]()
		for b.Loop() {
			buf, err = c.AppendPayload(buf[:0], st)
		}
	default:
		c, v := MustCodec[status](), status{}
		for b.Loop() {
			err = c.DecodePayload(want, &v)
		}
		buf, _ = c.AppendPayload(nil, &v)
	}
	if err != nil {
		b.Fatal(err)
	}
	check(b, buf, want)
}

func benchDynamic(b *testing.B, st *status, decode bool) {
	want := payloadOf(b, st)
	s := MustCodec[sensor]().Structure()
	values := map[string]any{"sensor1": 1.5, "sensor2": -2.25, "sensor3": 0.125, "sensor4": 3.0}
	if st != nil {
		s = MustCodec[status]().Structure()
		values = map[string]any{"status_code": st.Code, "message": st.Message}
	}
	buf := make([]byte, 0, 2048)
	var err error
	if !decode {
		for b.Loop() {
			buf, err = s.AppendPayload(buf[:0], values)
		}
	} else {
		var m map[string]any
		for b.Loop() {
			m, err = s.DecodePayload(want)
		}
		buf, _ = s.AppendPayload(nil, m)
	}
	if err != nil {
		b.Fatal(err)
	}
	check(b, buf, want)
}

// benchBinaryAppend uses binary.Append and binary.Decode on a struct; for
// status, on the fixed header, with the string handled by hand and checked
// for UTF-8 both ways, as the other codecs do.
func benchBinaryAppend(b *testing.B, st *status, decode bool) {
	want := payloadOf(b, st)
	buf := make([]byte, 0, 2048)
	var err error
	switch {
	case st == nil && !decode:
		v := benchSensor
		for b.Loop() {
			buf, err = binary.Append(buf[:0], binary.BigEndian, &v)
		}
	case st == nil:
		var v sensor
		for b.Loop() {
			_, err = binary.Decode(want, binary.BigEndian, &v)
		}
		buf, _ = binary.Append(nil, binary.BigEndian, &v)
	case !decode:
		for b.Loop() {
			if !utf8.ValidString(st.Message) {
				err = errBench
				break
			}
			h := statusHeader{st.Code, uint32(len(st.Message))}
			buf, err = binary.Append(buf[:0], binary.BigEndian, &h)
			buf = append(buf, st.Message...)
		}
	default:
		var v status
		for b.Loop() {
			var h statusHeader
			n, derr := binary.Decode(want, binary.BigEndian, &h)
			if derr == nil && (uint64(h.Len) != uint64(len(want)-n) || !utf8.Valid(want[n:])) {
				derr = errBench
			}
			v, err = status{h.Code, string(want[n:])}, derr
		}
		buf, _ = MustCodec[status]().AppendPayload(nil, &v)
	}
	if err != nil {
		b.Fatal(err)
	}
	check(b, buf, want)
}

// benchBinaryWrite uses the reflection path binary.Write and binary.Read
// over a bytes.Buffer and a bytes.Reader; the status string is checked for
// UTF-8 both ways, as the other codecs do.
func benchBinaryWrite(b *testing.B, st *status, decode bool) {
	want := payloadOf(b, st)
	var w bytes.Buffer
	w.Grow(2048)
	r := bytes.NewReader(want)
	var err error
	var out []byte
	switch {
	case st == nil && !decode:
		v := benchSensor
		for b.Loop() {
			w.Reset()
			err = binary.Write(&w, binary.BigEndian, &v)
		}
		out = w.Bytes()
	case st == nil:
		var v sensor
		for b.Loop() {
			r.Reset(want)
			err = binary.Read(r, binary.BigEndian, &v)
		}
		out, _ = MustCodec[sensor]().AppendPayload(nil, &v)
	case !decode:
		for b.Loop() {
			w.Reset()
			if !utf8.ValidString(st.Message) {
				err = errBench
				break
			}
			err = binary.Write(&w, binary.BigEndian, &statusHeader{st.Code, uint32(len(st.Message))})
			w.WriteString(st.Message)
		}
		out = w.Bytes()
	default:
		var v status
		for b.Loop() {
			r.Reset(want)
			var h statusHeader
			if err = binary.Read(r, binary.BigEndian, &h); err != nil {
				break
			}
			msg := make([]byte, h.Len)
			if _, err = io.ReadFull(r, msg); err == nil && !utf8.Valid(msg) {
				err = errBench
			}
			v = status{h.Code, string(msg)}
		}
		out, _ = MustCodec[status]().AppendPayload(nil, &v)
	}
	if err != nil {
		b.Fatal(err)
	}
	check(b, out, want)
}

// benchHandwritten is the floor: code written for these messages alone,
// with the same checks binproto makes (lengths, UTF-8).
func benchHandwritten(b *testing.B, st *status, decode bool) {
	want := payloadOf(b, st)
	buf := make([]byte, 0, 2048)
	var err error
	switch {
	case st == nil && !decode:
		v := benchSensor
		for b.Loop() {
			buf = appendSensor(buf[:0], &v)
		}
	case st == nil:
		var v sensor
		for b.Loop() {
			err = decodeSensor(want, &v)
		}
		buf = appendSensor(nil, &v)
	case !decode:
		for b.Loop() {
			buf, err = appendStatus(buf[:0], st)
		}
	default:
		var v status
		for b.Loop() {
			err = decodeStatus(want, &v)
		}
		buf, _ = appendStatus(nil, &v)
	}
	if err != nil {
		b.Fatal(err)
	}
	check(b, buf, want)
}

func appendSensor(dst []byte, v *sensor) []byte {
	dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(v.S1))
	dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(v.S2))
	dst = binary.BigEndian.AppendUint32(dst, math.Float32bits(v.S3))
	return binary.BigEndian.AppendUint32(dst, math.Float32bits(v.S4))
}

func decodeSensor(p []byte, v *sensor) error {
	if len(p) != 16 {
		return errBench
	}
	v.S1 = math.Float32frombits(binary.BigEndian.Uint32(p[0:]))
	v.S2 = math.Float32frombits(binary.BigEndian.Uint32(p[4:]))
	v.S3 = math.Float32frombits(binary.BigEndian.Uint32(p[8:]))
	v.S4 = math.Float32frombits(binary.BigEndian.Uint32(p[12:]))
	return nil
}

func appendStatus(dst []byte, v *status) ([]byte, error) {
	if !utf8.ValidString(v.Message) {
		return dst, errBench
	}
	dst = binary.BigEndian.AppendUint32(dst, v.Code)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v.Message)))
	return append(dst, v.Message...), nil
}

func decodeStatus(p []byte, v *status) error {
	if len(p) < 8 || uint64(binary.BigEndian.Uint32(p[4:])) != uint64(len(p)-8) || !utf8.Valid(p[8:]) {
		return errBench
	}
	v.Code = binary.BigEndian.Uint32(p)
	v.Message = string(p[8:])
	return nil
}

// BenchmarkDecodeNoCopy measures the zero-copy typed decoder.
func BenchmarkDecodeNoCopy(b *testing.B) {
	for _, m := range []struct {
		name string
		st   *status
	}{{"status100", &benchStatus100}, {"status1k", &benchStatus1k}} {
		b.Run(m.name, func(b *testing.B) {
			want := payloadOf(b, m.st)
			c := MustCodec[status]()
			var v status
			var err error
			for b.Loop() {
				err = c.DecodePayloadNoCopy(want, &v)
			}
			if err != nil || v != *m.st {
				b.Fatalf("%v, %v", v.Code, err)
			}
		})
	}
}
