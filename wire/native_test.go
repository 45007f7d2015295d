package wire_test

import (
	"bytes"
	"errors"
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
