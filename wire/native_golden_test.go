package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/wire"
)

// Regenerate testdata/native/vectors.jsonl with
//
//	go test ./wire -run TestNativeVectors -update
//
// and review the diff: the file is the byte layout's specification by
// example, for other implementations too.
var update = flag.Bool("update", false, "rewrite the golden vectors of testdata/native from the cases in the tests")

const nativeVectorsPath = "../testdata/native/vectors.jsonl"

// nativeVector is one line of testdata/native/vectors.jsonl: the hex of a
// frame, a preface or a description, and what it decodes to; or, with
// Error set, bytes that must fail to parse with that sentinel.
type nativeVector struct {
	Name     string `json:"name"`
	Checksum string `json:"checksum,omitempty"` // the frame layout's checksum: "" (none) or "crc32"
	Hex      string `json:"hex"`
	Error    string `json:"error,omitempty"` // the sentinel a malformed input fails with

	Frame       *vectorFrame   `json:"frame,omitempty"`
	Preface     *vectorPreface `json:"preface,omitempty"`
	Description *vectorDesc    `json:"description,omitempty"`
}

type vectorFrame struct {
	Kind          string      `json:"kind"` // Kind.String()
	Flags         uint8       `json:"flags"`
	ID            uint32      `json:"id"`
	Len           int         `json:"len"`                      // the whole frame's bytes
	Type          uint64      `json:"type,omitempty"`           // REQUEST, REPLY, MESSAGE
	TimeoutMicros uint64      `json:"timeout_us,omitempty"`     // REQUEST with FlagDeadline
	TimeoutString string      `json:"timeout_string,omitempty"` // the timeout as time.Duration prints it
	Meta          [][2]string `json:"meta,omitempty"`           // REQUEST, MESSAGE with FlagMeta: the entries
	MetaHex       string      `json:"meta_hex,omitempty"`       // the meta bytes as sent
	Payload       string      `json:"payload_hex,omitempty"`    // REQUEST, REPLY, MESSAGE, PING
	PayloadText   string      `json:"payload_text,omitempty"`   // the payload, when it is printable, for readers
	Code          string      `json:"code,omitempty"`           // ERROR, GOAWAY: Code.String()
	CodeNumber    uint8       `json:"code_number,omitempty"`    // ERROR, GOAWAY: the code's byte
	Message       string      `json:"message,omitempty"`        // ERROR, GOAWAY
}

type vectorPreface struct {
	Role        string `json:"role"`
	Features    uint32 `json:"features"`
	MaxStreams  uint32 `json:"max_streams"`
	KeepaliveMS uint32 `json:"keepalive_ms"`
	Fingerprint string `json:"fingerprint_hex"`
	Description string `json:"description"`
}

type vectorDesc struct {
	Text        string `json:"text"`
	Fingerprint string `json:"fingerprint_hex"`
}

var sentinels = map[string]error{
	"ErrFormat": wire.ErrFormat, "ErrTooLarge": wire.ErrTooLarge, "ErrChecksum": wire.ErrChecksum,
	"ErrLength": wire.ErrLength, "ErrNativeKind": wire.ErrNativeKind, "ErrNotNative": wire.ErrNotNative,
	"ErrNativeVersion": wire.ErrNativeVersion,
}

var kindsByName = map[string]wire.Kind{}

func init() {
	for k := wire.KindRequest; k <= wire.KindGoAway; k++ {
		kindsByName[k.String()] = k
	}
}

func vectorNative(checksum string) *wire.Native {
	if checksum == "crc32" {
		return &wire.Native{Checksum: wire.CRC32}
	}
	return &wire.Native{}
}

// sampleDescription is the configuration of the vectors' prefaces.
var sampleDescription = wire.Description{
	Header: ">H", Checksum: "crc32", NotFound: 65535,
	Types: []wire.TypeDescription{
		{Code: 1, Fields: []string{"temp:>f", "id:bytes[16]"}},
		{Code: 2, Fields: []string{"name:str", "note:str[32]"}},
		{Code: 3},
	},
}

// vectorCases builds the vectors, for -update.
func vectorCases(t *testing.T) []nativeVector {
	traceparent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	meta := wire.AppendMeta(nil, "traceparent", traceparent)
	frames := []struct {
		name, checksum string
		h              wire.NativeHeader
		payload        []byte
	}{
		{"request", "", wire.NativeHeader{Kind: wire.KindRequest, ID: 1, Type: 1}, []byte{0x3f, 0xc0, 0, 0}},
		{"request with deadline", "", wire.NativeHeader{Kind: wire.KindRequest, ID: 2, Type: 1, Timeout: 250 * time.Millisecond}, []byte{0x3f, 0xc0, 0, 0}},
		{"request with deadline rounded up to 1 µs", "", wire.NativeHeader{Kind: wire.KindRequest, ID: 3, Type: 2, Timeout: 1}, nil},
		{"request with meta", "", wire.NativeHeader{Kind: wire.KindRequest, ID: 4, Type: 2, Meta: meta}, []byte("\x00\x00\x00\x02hi")},
		{"request with deadline and meta, crc32", "crc32", wire.NativeHeader{Kind: wire.KindRequest, ID: 0x01020304, Type: 300, Timeout: 3 * time.Second, Meta: meta}, []byte{1}},
		{"reply", "", wire.NativeHeader{Kind: wire.KindReply, ID: 1, Type: 1}, []byte{0x40, 0x49, 0x0f, 0xdb}},
		{"reply, crc32", "crc32", wire.NativeHeader{Kind: wire.KindReply, ID: 7, Type: 2}, []byte("\x00\x00\x00\x05hello")},
		{"message", "", wire.NativeHeader{Kind: wire.KindMessage, Type: 3}, nil},
		{"message with meta", "", wire.NativeHeader{Kind: wire.KindMessage, Type: 1 << 40, Meta: wire.AppendMeta(wire.AppendMeta(nil, "a", ""), "", "b")}, []byte{0xff}},
	}
	var out []nativeVector
	add := func(name, checksum string, b []byte) {
		v := nativeVector{Name: name, Checksum: checksum, Hex: hex.EncodeToString(b)}
		fr, err := vectorNative(checksum).ParseExact(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v.Frame = describeFrame(fr)
		out = append(out, v)
	}
	for _, c := range frames {
		b, err := vectorNative(c.checksum).AppendFrame(nil, &c.h, c.payload)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		add(c.name, c.checksum, b)
	}
	for _, cs := range []string{"", "crc32"} {
		n, sfx := vectorNative(cs), map[string]string{"": "", "crc32": ", crc32"}[cs]
		add("error"+sfx, cs, n.AppendError(nil, 5, wire.CodeNotFound, false, "no handler for type 9"))
		add("error not processed, connection-wide"+sfx, cs, n.AppendError(nil, 0, wire.CodeUnavailable, true, "overloaded"))
		add("cancel"+sfx, cs, n.AppendCancel(nil, 6))
		add("ping"+sfx, cs, n.AppendPing(nil, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, false))
		add("pong"+sfx, cs, n.AppendPing(nil, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, true))
		add("goaway"+sfx, cs, n.AppendGoAway(nil, 41, wire.CodeUnavailable, "draining"))
	}
	add("error with an unknown code", "", (&wire.Native{}).AppendError(nil, 8, 200, false, "é"))

	desc := sampleDescription.Marshal()
	fp := sampleDescription.Fingerprint()
	out = append(out, nativeVector{Name: "description", Hex: hex.EncodeToString(desc),
		Description: &vectorDesc{Text: string(desc), Fingerprint: hex.EncodeToString(fp[:])}})
	for _, p := range []wire.Preface{
		{Role: wire.RoleClient, Features: 0x1f, Keepalive: 15 * time.Second, Fingerprint: fp, Description: desc},
		{Role: wire.RoleServer, Features: 0x0f, MaxStreams: 100, Fingerprint: fp, Description: desc},
		{Role: wire.RoleClient, Fingerprint: fp},
	} {
		b, err := wire.AppendPreface(nil, &p)
		if err != nil {
			t.Fatal(err)
		}
		name := "preface, " + p.Role.String()
		if len(p.Description) == 0 {
			name += ", fingerprint only"
		}
		out = append(out, nativeVector{Name: name, Hex: hex.EncodeToString(b), Preface: &vectorPreface{
			Role: p.Role.String(), Features: p.Features, MaxStreams: p.MaxStreams,
			KeepaliveMS: uint32(p.Keepalive / time.Millisecond), Fingerprint: hex.EncodeToString(fp[:]), Description: string(p.Description),
		}})
	}

	for _, bad := range []struct{ name, checksum, hex, err string }{
		{"length under the minimum", "", "00000005010000000001", "ErrFormat"},
		{"length over MaxFrame", "", "7fffffff01000000000101", "ErrTooLarge"},
		{"kind 0", "", "00000006000000000000", "ErrNativeKind"},
		{"kind 8", "", "00000006080000000000", "ErrNativeKind"},
		{"request with id 0", "", "0000000701000000000001", "ErrFormat"},
		{"message type uvarint not in shortest form", "", "000000080300000000008100", "ErrFormat"},
		{"message type uvarint over 10 bytes", "", "00000011030000000000ffffffffffffffffffff01", "ErrFormat"},
		{"meta length past the frame", "", "00000008030200000000" + "0105", "ErrLength"},
		{"meta over MaxMeta", "", "00000009030200000000018120", "ErrTooLarge"},
		{"deadline of 0 µs", "", "00000008010100000001" + "0100", "ErrFormat"},
		{"ping of 7 bytes", "", "0000000d06000000000001020304050607", "ErrFormat"},
		{"cancel with id 0", "", "00000006050000000000", "ErrFormat"},
		{"bad checksum", "crc32", "0000000a050000000006deadbeef", "ErrChecksum"},
		{"preface of a compatible client", "", "0001", "ErrNotNative"},
		{"preface of version 2", "", "ff42504e0d0a1a0a02", "ErrNativeVersion"},
	} {
		out = append(out, nativeVector{Name: bad.name, Checksum: bad.checksum, Hex: bad.hex, Error: bad.err})
	}
	return out
}

// describeFrame gives the vector fields of a parsed frame.
func describeFrame(fr wire.Frame) *vectorFrame {
	v := &vectorFrame{Kind: fr.Kind.String(), Flags: fr.Flags, ID: fr.ID, Len: fr.Len}
	switch fr.Kind {
	case wire.KindError, wire.KindGoAway:
		v.Code, v.CodeNumber, v.Message = wire.Code(fr.Type).String(), uint8(fr.Type), string(fr.Payload)
		return v
	case wire.KindPing:
		v.Payload = hex.EncodeToString(fr.Payload)
		return v
	case wire.KindCancel:
		return v
	}
	v.Type, v.Payload = fr.Type, hex.EncodeToString(fr.Payload)
	if isText(fr.Payload) {
		v.PayloadText = string(fr.Payload)
	}
	if fr.Timeout > 0 {
		v.TimeoutMicros, v.TimeoutString = uint64(fr.Timeout/time.Microsecond), fr.Timeout.String()
	}
	if len(fr.Meta) > 0 {
		v.MetaHex = hex.EncodeToString(fr.Meta)
		_ = wire.RangeMeta(fr.Meta, func(k, val []byte) bool {
			v.Meta = append(v.Meta, [2]string{string(k), string(val)})
			return true
		})
	}
	return v
}

func isText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// encodeVector encodes a frame vector from its decoded fields.
func encodeVector(n *wire.Native, v *vectorFrame) ([]byte, error) {
	payload, err := hex.DecodeString(v.Payload)
	if err != nil {
		return nil, err
	}
	fr := wire.Frame{Kind: kindsByName[v.Kind], Flags: v.Flags, ID: v.ID, Type: v.Type, Payload: payload,
		Timeout: time.Duration(v.TimeoutMicros) * time.Microsecond}
	switch fr.Kind {
	case wire.KindError, wire.KindGoAway:
		fr.Type, fr.Payload = uint64(v.CodeNumber), []byte(v.Message)
	}
	for _, e := range v.Meta {
		fr.Meta = wire.AppendMeta(fr.Meta, e[0], e[1])
	}
	return appendParsed(n, fr)
}

// appendParsed encodes fr, a frame as ParseFrame returns it, with the
// Append functions.
func appendParsed(n *wire.Native, fr wire.Frame) ([]byte, error) {
	switch fr.Kind {
	case wire.KindError:
		return n.AppendError(nil, fr.ID, wire.Code(fr.Type), fr.Flags&wire.FlagNotProcessed != 0, string(fr.Payload)), nil
	case wire.KindGoAway:
		return n.AppendGoAway(nil, fr.ID, wire.Code(fr.Type), string(fr.Payload)), nil
	case wire.KindCancel:
		return n.AppendCancel(nil, fr.ID), nil
	case wire.KindPing:
		return n.AppendPing(nil, [8]byte(fr.Payload), fr.Flags&wire.FlagAck != 0), nil
	}
	h := wire.NativeHeader{Kind: fr.Kind, Flags: fr.Flags, ID: fr.ID, Type: fr.Type, Timeout: fr.Timeout, Meta: fr.Meta}
	return n.AppendFrame(nil, &h, fr.Payload)
}

func loadNativeVectors(tb testing.TB) []nativeVector {
	data, err := os.ReadFile(nativeVectorsPath)
	if err != nil {
		tb.Fatal(err)
	}
	var out []nativeVector
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var v nativeVector
		if err := json.Unmarshal(line, &v); err != nil {
			tb.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// Each vector encodes from its fields to its bytes, byte for byte, and its
// bytes decode to its fields; each malformed vector fails with its
// sentinel.
func TestNativeVectors(t *testing.T) {
	if *update {
		var buf bytes.Buffer
		for _, v := range vectorCases(t) {
			line, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(append(line, '\n'))
		}
		if err := os.MkdirAll(filepath.Dir(nativeVectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(nativeVectorsPath, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vectors := loadNativeVectors(t)
	if len(vectors) < 30 {
		t.Fatalf("%d vectors in %s", len(vectors), nativeVectorsPath)
	}
	for _, v := range vectors {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		n := vectorNative(v.Checksum)
		switch {
		case v.Error != "":
			checkBadVector(t, v, n, b)
		case v.Frame != nil:
			fr, err := n.ParseExact(b)
			if err != nil {
				t.Errorf("%s: ParseExact: %v", v.Name, err)
				continue
			}
			if got, _ := json.Marshal(describeFrame(fr)); !bytes.Equal(got, mustJSON(t, v.Frame)) {
				t.Errorf("%s: decoded %s\nwant %s", v.Name, got, mustJSON(t, v.Frame))
			}
			enc, err := encodeVector(n, v.Frame)
			if err != nil || !bytes.Equal(enc, b) {
				t.Errorf("%s: encoded %x, %v\nwant %x", v.Name, enc, err, b)
			}
		case v.Preface != nil:
			checkPrefaceVector(t, v, b)
		case v.Description != nil:
			d, err := wire.ParseDescription(b)
			if err != nil || string(b) != v.Description.Text {
				t.Errorf("%s: ParseDescription: %v", v.Name, err)
				continue
			}
			fp := d.Fingerprint()
			if hex.EncodeToString(fp[:]) != v.Description.Fingerprint || d.Diff(&sampleDescription) != nil {
				t.Errorf("%s: fingerprint %x, want %s; diff %q", v.Name, fp, v.Description.Fingerprint, d.Diff(&sampleDescription))
			}
		default:
			t.Errorf("%s: vector of no kind", v.Name)
		}
	}
}

func checkBadVector(t *testing.T, v nativeVector, n *wire.Native, b []byte) {
	want, ok := sentinels[v.Error]
	if !ok {
		t.Fatalf("%s: unknown sentinel %s", v.Name, v.Error)
	}
	var err error
	if strings.HasPrefix(v.Name, "preface") {
		_, _, _, err = wire.ParsePreface(b)
	} else {
		_, _, _, err = n.ParseFrame(b)
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: %x: err = %v, want %s", v.Name, b, err, v.Error)
	}
}

func checkPrefaceVector(t *testing.T, v nativeVector, b []byte) {
	p, n, ok, err := wire.ParsePreface(b)
	if err != nil || !ok || n != len(b) {
		t.Errorf("%s: ParsePreface = %d, %v, %v", v.Name, n, ok, err)
		return
	}
	got := vectorPreface{Role: p.Role.String(), Features: p.Features, MaxStreams: p.MaxStreams,
		KeepaliveMS: uint32(p.Keepalive / time.Millisecond), Fingerprint: hex.EncodeToString(p.Fingerprint[:]), Description: string(p.Description)}
	if got != *v.Preface {
		t.Errorf("%s: decoded %+v\nwant %+v", v.Name, got, *v.Preface)
	}
	role := wire.RoleClient
	if v.Preface.Role == "server" {
		role = wire.RoleServer
	}
	fp, _ := hex.DecodeString(v.Preface.Fingerprint)
	enc, err := wire.AppendPreface(nil, &wire.Preface{Role: role, Features: v.Preface.Features, MaxStreams: v.Preface.MaxStreams,
		Keepalive: time.Duration(v.Preface.KeepaliveMS) * time.Millisecond, Fingerprint: [32]byte(fp), Description: []byte(v.Preface.Description)})
	if err != nil || !bytes.Equal(enc, b) {
		t.Errorf("%s: encoded %x, %v\nwant %x", v.Name, enc, err, b)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
