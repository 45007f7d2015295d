package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/wire"
)

// natives are the layouts the native tests run over: no checksum, CRC-32.
var natives = []struct {
	name string
	n    *wire.Native
}{
	{"plain", &wire.Native{}},
	{"crc32", &wire.Native{Checksum: wire.CRC32}},
}

// Every kind and flag combination of a message frame survives
// AppendFrame then ParseFrame, and ParseFrame leaves the bytes after it.
func TestNativeFrameRoundTrip(t *testing.T) {
	meta := wire.AppendMeta(nil, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	tests := []struct {
		name string
		h    wire.NativeHeader
	}{
		{"request", wire.NativeHeader{Kind: wire.KindRequest, ID: 1, Type: 7}},
		{"request deadline", wire.NativeHeader{Kind: wire.KindRequest, ID: 2, Type: 300, Timeout: 1500 * time.Millisecond}},
		{"request meta", wire.NativeHeader{Kind: wire.KindRequest, ID: 3, Type: 1, Meta: meta}},
		{"request deadline meta", wire.NativeHeader{Kind: wire.KindRequest, ID: 0xffffffff, Type: 1 << 63, Timeout: time.Microsecond, Meta: meta}},
		{"reply", wire.NativeHeader{Kind: wire.KindReply, ID: 9, Type: 2}},
		{"message", wire.NativeHeader{Kind: wire.KindMessage, Type: 5}},
		{"message meta", wire.NativeHeader{Kind: wire.KindMessage, Type: 5, Meta: meta}},
	}
	for _, nt := range natives {
		for _, tt := range tests {
			for _, payload := range [][]byte{{}, []byte("hello"), bytes.Repeat([]byte{0xab}, 5000)} {
				b, err := nt.n.AppendFrame([]byte("x"), &tt.h, payload)
				if err != nil {
					t.Fatalf("%s/%s: AppendFrame: %v", nt.name, tt.name, err)
				}
				rest, fr, ok, err := nt.n.ParseFrame(append(b[1:], 0xee))
				if err != nil || !ok || !bytes.Equal(rest, []byte{0xee}) {
					t.Fatalf("%s/%s: ParseFrame = %x, %v, %v", nt.name, tt.name, rest, ok, err)
				}
				if fr.Kind != tt.h.Kind || fr.ID != tt.h.ID || fr.Type != tt.h.Type || fr.Timeout != tt.h.Timeout ||
					!bytes.Equal(fr.Meta, tt.h.Meta) || !bytes.Equal(fr.Payload, payload) || fr.Len != len(b)-1 {
					t.Errorf("%s/%s: parsed %+v", nt.name, tt.name, fr)
				}
			}
		}
	}
}

// The control frames round-trip too.
func TestNativeControlRoundTrip(t *testing.T) {
	for _, nt := range natives {
		n := nt.n
		tests := []struct {
			name string
			b    []byte
			want wire.Frame
		}{
			{"error", n.AppendError(nil, 4, wire.CodeNotFound, false, "no handler"),
				wire.Frame{Kind: wire.KindError, ID: 4, Type: uint64(wire.CodeNotFound), Payload: []byte("no handler")}},
			{"error not processed", n.AppendError(nil, 0, wire.CodeUnavailable, true, ""),
				wire.Frame{Kind: wire.KindError, Flags: wire.FlagNotProcessed, Type: uint64(wire.CodeUnavailable), Payload: []byte{}}},
			{"cancel", n.AppendCancel(nil, 77), wire.Frame{Kind: wire.KindCancel, ID: 77}},
			{"ping", n.AppendPing(nil, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, false),
				wire.Frame{Kind: wire.KindPing, Payload: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
			{"pong", n.AppendPing(nil, [8]byte{8}, true),
				wire.Frame{Kind: wire.KindPing, Flags: wire.FlagAck, Payload: []byte{8, 0, 0, 0, 0, 0, 0, 0}}},
			{"goaway", n.AppendGoAway(nil, 12, wire.CodeUnavailable, "draining"),
				wire.Frame{Kind: wire.KindGoAway, ID: 12, Type: uint64(wire.CodeUnavailable), Payload: []byte("draining")}},
		}
		for _, tt := range tests {
			fr, err := n.ParseExact(tt.b)
			tt.want.Len = len(tt.b)
			if err != nil || fr.Kind != tt.want.Kind || fr.Flags != tt.want.Flags || fr.ID != tt.want.ID ||
				fr.Type != tt.want.Type || !bytes.Equal(fr.Payload, tt.want.Payload) || fr.Len != tt.want.Len {
				t.Errorf("%s/%s: ParseExact(%x) = %+v, %v; want %+v", nt.name, tt.name, tt.b, fr, err, tt.want)
			}
		}
	}
}

// A preface round-trips, and the magic is told apart from a compatible
// frame's first bytes.
func TestPrefaceRoundTrip(t *testing.T) {
	d := wire.Description{Header: ">H", Checksum: "crc32", NotFound: 65535,
		Types: []wire.TypeDescription{{Code: 1, Fields: []string{"temp:>f", "id:bytes[16]"}}}}
	desc := d.Marshal()
	p := wire.Preface{Role: wire.RoleServer, Features: wire.FeatureDeadlines | wire.FeatureGoAway, MaxStreams: 100,
		Keepalive: 30 * time.Second, Fingerprint: d.Fingerprint(), Description: desc}
	b, err := wire.AppendPreface(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != wire.PrefaceMin+len(desc) {
		t.Errorf("preface of %d bytes, want %d", len(b), wire.PrefaceMin+len(desc))
	}
	got, n, ok, err := wire.ParsePreface(append(b, 1, 2, 3))
	if err != nil || !ok || n != len(b) || got.Version != 1 || got.Role != p.Role || got.Features != p.Features ||
		got.MaxStreams != p.MaxStreams || got.Keepalive != p.Keepalive || got.Fingerprint != p.Fingerprint ||
		!bytes.Equal(got.Description, desc) {
		t.Errorf("ParsePreface = %+v, %d, %v, %v", got, n, ok, err)
	}
	if _, _, _, err := wire.ParsePreface([]byte{0x00, 0x01}); !errors.Is(err, wire.ErrNotNative) {
		t.Errorf("ParsePreface(compatible bytes) = %v, want ErrNotNative", err)
	}
	parsed, err := wire.ParseDescription(desc)
	if err != nil || parsed.Diff(&d) != nil {
		t.Errorf("ParseDescription = %+v, %v", parsed, err)
	}
}

// Every proper prefix of a valid frame is "need more bytes", never an
// error; and the whole frame parses.
func TestNativeParseTruncated(t *testing.T) {
	for _, nt := range natives {
		n := nt.n
		req, err := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindRequest, ID: 5, Type: 1 << 20,
			Timeout: time.Second, Meta: wire.AppendMeta(nil, "k", "v")}, []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{req, n.AppendError(nil, 1, wire.CodeInternal, false, "boom"), n.AppendPing(nil, [8]byte{}, false), n.AppendCancel(nil, 3)} {
			for i := range len(b) {
				rest, _, ok, err := n.ParseFrame(b[:i])
				if ok || err != nil || len(rest) != i {
					t.Fatalf("%s: ParseFrame(%x) = %v, %v; want need more", nt.name, b[:i], ok, err)
				}
				if _, err := n.ParseExact(b[:i]); !errors.Is(err, wire.ErrTruncated) {
					t.Fatalf("%s: ParseExact(%x) = %v; want ErrTruncated", nt.name, b[:i], err)
				}
			}
			if _, err := n.ParseExact(append(b[:len(b):len(b)], 0)); !errors.Is(err, wire.ErrTrailingBytes) {
				t.Errorf("%s: ParseExact with a byte more = %v; want ErrTrailingBytes", nt.name, err)
			}
		}
	}
}

// frameHex builds a frame without checksum from the hex of the bytes after
// its length field.
func frameHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// Malformed frames fail with the sentinel of their fault, whatever follows.
func TestNativeParseMalformed(t *testing.T) {
	small := &wire.Native{MaxPayload: 4}
	big := bytes.Repeat([]byte{'x'}, wire.MaxErrorMessage+1)
	tests := []struct {
		name string
		n    *wire.Native
		b    []byte
		want error
	}{
		{"length over MaxFrame", small, binary.BigEndian.AppendUint32(nil, uint32(small.MaxFrame()+1)), wire.ErrTooLarge},
		{"length 2^32-1", &wire.Native{}, []byte{0xff, 0xff, 0xff, 0xff}, wire.ErrTooLarge},
		{"length under the minimum", &wire.Native{}, []byte{0, 0, 0, 5, 6, 0, 0, 0, 0}, wire.ErrFormat},
		{"length under the minimum with a checksum", &wire.Native{Checksum: wire.CRC32}, []byte{0, 0, 0, 9}, wire.ErrFormat},
		{"kind 0, known before the frame is in", &wire.Native{}, []byte{0, 0, 0, 6, 0}, wire.ErrNativeKind},
		{"kind 255", &wire.Native{}, frameHex(t, "ff0000000000"), wire.ErrNativeKind},
		{"payload over MaxPayload", small, frameHex(t, "03000000000001"+"0102030405"), wire.ErrTooLarge},
		{"reply with id 0", &wire.Native{}, frameHex(t, "02000000000001"), wire.ErrFormat},
		{"message with an id", &wire.Native{}, frameHex(t, "03000000000101"), wire.ErrFormat},
		{"no message type", &wire.Native{}, frameHex(t, "030000000000"), wire.ErrFormat},
		{"overlong uvarint", &wire.Native{}, frameHex(t, "030000000000"+strings.Repeat("ff", 10)+"01"), wire.ErrFormat},
		{"uvarint not in shortest form", &wire.Native{}, frameHex(t, "0300000000008000"), wire.ErrFormat},
		{"timeout runs past the frame", &wire.Native{}, frameHex(t, "01010000000101"), wire.ErrFormat},
		{"timeout over the longest Duration", &wire.Native{}, frameHex(t, "01010000000101"+"ffffffffffffffff7f"), wire.ErrFormat},
		{"meta over MaxMeta", &wire.Native{}, frameHex(t, "0102000000010181200000"), wire.ErrTooLarge},
		{"empty meta", &wire.Native{}, frameHex(t, "0102000000010100"), wire.ErrFormat},
		{"meta entry past its meta", &wire.Native{}, frameHex(t, "010200000001010205616263"), wire.ErrFormat},
		{"error without code", &wire.Native{}, frameHex(t, "040000000001"), wire.ErrFormat},
		{"error message over 1024 bytes", &wire.Native{}, frameHex(t, "04000000000107"+hex.EncodeToString(big)), wire.ErrFormat},
		{"error message not UTF-8", &wire.Native{}, frameHex(t, "04000000000107ff"), wire.ErrFormat},
		{"goaway message over 1024 bytes", &wire.Native{}, frameHex(t, "07000000000105"+hex.EncodeToString(big)), wire.ErrFormat},
		{"cancel with a body", &wire.Native{}, frameHex(t, "05000000000100"), wire.ErrFormat},
		{"ping with an id", &wire.Native{}, frameHex(t, "0600000000010000000000000000"), wire.ErrFormat},
		{"ping of 9 bytes", &wire.Native{}, frameHex(t, "060000000000000000000000000000"), wire.ErrFormat},
		{"bad checksum", &wire.Native{Checksum: wire.CRC32}, append(binary.BigEndian.AppendUint32(nil, 10), 5, 0, 0, 0, 0, 1, 1, 2, 3, 4), wire.ErrChecksum},
	}
	for _, tt := range tests {
		for _, extra := range [][]byte{nil, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
			_, _, ok, err := tt.n.ParseFrame(append(tt.b[:len(tt.b):len(tt.b)], extra...))
			if ok || !errors.Is(err, tt.want) {
				t.Errorf("%s: ParseFrame(%x) = %v, %v; want %v", tt.name, tt.b, ok, err, tt.want)
			}
		}
	}
	// A payload too large is a *TooLargeError naming the type.
	_, _, _, err := small.ParseFrame(frameHex(t, "03000000000009"+"0102030405"))
	var tl *wire.TooLargeError
	if !errors.As(err, &tl) || tl.Type != 9 || tl.Length != 5 || tl.Max != 4 {
		t.Errorf("payload over MaxPayload: %v", err)
	}
}

// Unknown flags are kept and ignored; a flag of another kind means nothing.
func TestNativeUnknownFlags(t *testing.T) {
	n := &wire.Native{}
	b, err := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindReply, Flags: 0x83, ID: 1, Type: 2}, []byte{9})
	if err != nil {
		t.Fatal(err)
	}
	fr, err := n.ParseExact(b)
	if err != nil || fr.Flags != 0x83 || fr.Timeout != 0 || fr.Meta != nil || !bytes.Equal(fr.Payload, []byte{9}) {
		t.Errorf("reply with flags 0x83: %+v, %v", fr, err)
	}
	// On a request, FlagDeadline and FlagMeta follow Timeout and Meta.
	b, err = n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindRequest, Flags: 0x83, ID: 1, Type: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fr, err := n.ParseExact(b); err != nil || fr.Flags != 0x80 {
		t.Errorf("request with flags 0x83 and no timeout or meta: %+v, %v", fr, err)
	}
}

// Begin refuses headers that would make a frame ParseFrame rejects, and
// leaves dst as it was.
func TestNativeBeginErrors(t *testing.T) {
	tests := []struct {
		name string
		h    wire.NativeHeader
		want error
	}{
		{"request with id 0", wire.NativeHeader{Kind: wire.KindRequest}, wire.ErrRange},
		{"reply with id 0", wire.NativeHeader{Kind: wire.KindReply}, wire.ErrRange},
		{"message with an id", wire.NativeHeader{Kind: wire.KindMessage, ID: 1}, wire.ErrRange},
		{"kind 0", wire.NativeHeader{ID: 1}, wire.ErrNativeKind},
		{"ping", wire.NativeHeader{Kind: wire.KindPing}, wire.ErrNativeKind},
		{"negative timeout", wire.NativeHeader{Kind: wire.KindRequest, ID: 1, Timeout: -1}, wire.ErrRange},
		{"reply with a timeout", wire.NativeHeader{Kind: wire.KindReply, ID: 1, Timeout: 1}, wire.ErrRange},
		{"message with a timeout", wire.NativeHeader{Kind: wire.KindMessage, Timeout: 1}, wire.ErrRange},
		{"reply with meta", wire.NativeHeader{Kind: wire.KindReply, ID: 1, Meta: wire.AppendMeta(nil, "a", "b")}, wire.ErrRange},
		{"malformed meta", wire.NativeHeader{Kind: wire.KindMessage, Meta: []byte{5}}, wire.ErrFormat},
		{"meta over MaxMeta", wire.NativeHeader{Kind: wire.KindMessage, Meta: wire.AppendMeta(nil, "k", strings.Repeat("v", wire.MaxMeta))}, wire.ErrTooLarge},
	}
	n := &wire.Native{}
	for _, tt := range tests {
		dst := []byte("keep")
		got, start, err := n.Begin(dst, &tt.h)
		if !errors.Is(err, tt.want) || !bytes.Equal(got, dst) || start != len(dst) {
			t.Errorf("%s: Begin = %q, %d, %v; want %v", tt.name, got, start, err, tt.want)
		}
		if got, err := n.AppendFrame(dst, &tt.h, []byte("p")); !errors.Is(err, tt.want) || !bytes.Equal(got, dst) {
			t.Errorf("%s: AppendFrame = %q, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

// Finish refuses a payload over MaxPayload with a *TooLargeError and cuts
// the frame off.
func TestNativeFinishTooLarge(t *testing.T) {
	n := &wire.Native{MaxPayload: 8, Checksum: wire.CRC32}
	buf, start, err := n.Begin([]byte("ab"), &wire.NativeHeader{Kind: wire.KindRequest, ID: 1, Type: 3, Timeout: time.Hour})
	if err != nil || start != 2 {
		t.Fatal(start, err)
	}
	ok, err := n.Finish(append(buf, make([]byte, 8)...), start)
	if err != nil {
		t.Fatalf("payload of MaxPayload bytes: %v", err)
	}
	if _, err := n.ParseExact(ok[start:]); err != nil {
		t.Errorf("ParseExact: %v", err)
	}
	got, err := n.Finish(append(buf, make([]byte, 9)...), start)
	var tl *wire.TooLargeError
	if !errors.As(err, &tl) || tl.Type != 3 || tl.Length != 9 || tl.Max != 8 || string(got) != "ab" {
		t.Errorf("Finish over MaxPayload = %q, %v", got, err)
	}
	if _, err := n.Finish([]byte{1, 2, 3}, 0); !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("Finish with no frame begun = %v", err)
	}
}

// The largest frame MaxFrame allows parses: a request with the longest
// type, timeout and meta and a payload of MaxPayload bytes.
func TestNativeMaxFrame(t *testing.T) {
	for _, n := range []*wire.Native{{MaxPayload: 100}, {MaxPayload: 100, Checksum: wire.CRC32}} {
		var meta []byte
		for len(meta) < wire.MaxMeta-20 {
			meta = wire.AppendMeta(meta, "k", "0123456789")
		}
		meta = wire.AppendMeta(meta, "k", strings.Repeat("v", wire.MaxMeta-len(meta)-3))
		b, err := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindRequest, ID: 1, Type: 1<<64 - 1,
			Timeout: 1<<63 - 1, Meta: meta}, make([]byte, 100))
		if err != nil || len(meta) != wire.MaxMeta {
			t.Fatalf("meta of %d bytes: %v", len(meta), err)
		}
		if _, err := n.ParseExact(b); err != nil {
			t.Fatal(err)
		}
		if slack := n.MaxFrame() - (len(b) - wire.LengthSize); slack < 0 || slack > 2 {
			t.Errorf("MaxFrame %d for a largest frame of %d bytes after the length", n.MaxFrame(), len(b)-wire.LengthSize)
		}
	}
	if got := uint64((&wire.Native{MaxPayload: math.MaxInt}).MaxFrame()); got != math.MaxUint32 && got != math.MaxInt32-wire.LengthSize {
		t.Errorf("MaxFrame with a huge MaxPayload = %d, want the largest length field", got)
	}
}

// Timeouts go on the wire in microseconds rounded up, capped at the
// longest Duration.
func TestNativeTimeoutRounding(t *testing.T) {
	n := &wire.Native{}
	for _, tt := range []struct{ in, want time.Duration }{
		{1, time.Microsecond},
		{time.Microsecond, time.Microsecond},
		{time.Microsecond + 1, 2 * time.Microsecond},
		{1500 * time.Millisecond, 1500 * time.Millisecond},
		{1<<63 - 1, (1<<63 - 1) / 1000 * 1000},
	} {
		b, err := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindRequest, ID: 1, Timeout: tt.in}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fr, err := n.ParseExact(b); err != nil || fr.Timeout != tt.want || fr.Flags != wire.FlagDeadline {
			t.Errorf("timeout %d: parsed %v, %v; want %v", tt.in, fr.Timeout, err, tt.want)
		}
	}
}

// Error messages are made valid UTF-8 and cut to MaxErrorMessage bytes at
// a rune boundary, so that the receiver accepts them.
func TestNativeErrorMessageClipped(t *testing.T) {
	n := &wire.Native{}
	for _, tt := range []struct{ name, msg, want string }{
		{"short", "bad input", "bad input"},
		{"exactly the maximum", strings.Repeat("a", wire.MaxErrorMessage), strings.Repeat("a", wire.MaxErrorMessage)},
		{"over the maximum", strings.Repeat("a", 2000), strings.Repeat("a", wire.MaxErrorMessage)},
		{"rune across the boundary", strings.Repeat("a", wire.MaxErrorMessage-1) + "é", strings.Repeat("a", wire.MaxErrorMessage-1)},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
	} {
		for _, b := range [][]byte{n.AppendError(nil, 1, wire.CodeInvalid, false, tt.msg), n.AppendGoAway(nil, 1, wire.CodeUnavailable, tt.msg)} {
			fr, err := n.ParseExact(b)
			if err != nil || string(fr.Payload) != tt.want {
				t.Errorf("%s: parsed %q, %v; want %q", tt.name, fr.Payload, err, tt.want)
			}
		}
	}
}

func TestKindAndCodeNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{wire.Kind(0).String(), "compatible"}, {wire.KindRequest.String(), "request"}, {wire.KindGoAway.String(), "goaway"},
		{wire.Kind(8).String(), "kind 8"}, {wire.CodeNotFound.String(), "not found"}, {wire.CodeRateLimited.String(), "rate limited"},
		{wire.CodeDeadlineExceeded.String(), "deadline exceeded"}, {wire.CodeTooLarge.String(), "too large"},
		{wire.Code(0).String(), "code 0"}, {wire.Code(12).String(), "code 12"}, {wire.RoleServer.String(), "server"},
		{wire.Role(3).String(), "role 3"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestRangeMeta(t *testing.T) {
	meta := wire.AppendMeta(wire.AppendMeta(wire.AppendMeta(nil, "traceparent", "00-ab-cd-01"), "tracestate", ""), "", "x")
	var got []string
	if err := wire.RangeMeta(meta, func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "traceparent=00-ab-cd-01,tracestate=,=x" {
		t.Errorf("entries %q", got)
	}
	got = nil
	if err := wire.RangeMeta(meta, func(k, v []byte) bool { got = append(got, string(k)); return false }); err != nil || len(got) != 1 {
		t.Errorf("stopping after one entry: %q, %v", got, err)
	}
	for _, tt := range []struct {
		name string
		meta []byte
		want error
	}{
		{"key past the end", []byte{3, 'a'}, wire.ErrFormat},
		{"no value", []byte{1, 'a'}, wire.ErrFormat},
		{"value past the end", []byte{1, 'a', 2, 'b'}, wire.ErrFormat},
		{"length not in shortest form", []byte{0x81, 0x00, 'a', 0}, wire.ErrFormat},
		{"overlong length", bytes.Repeat([]byte{0xff}, 11), wire.ErrFormat},
		{"over MaxMeta", wire.AppendMeta(nil, "k", strings.Repeat("v", wire.MaxMeta)), wire.ErrTooLarge},
	} {
		if err := wire.RangeMeta(tt.meta, nil); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}
