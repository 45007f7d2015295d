package wire_test

import (
	"fmt"
	"time"

	"github.com/binproto/binproto/wire"
)

// A request with a deadline and trace context goes out with AppendFrame
// and comes back with ParseFrame.
func ExampleNative_AppendFrame() {
	n := &wire.Native{Checksum: wire.CRC32}
	h := wire.NativeHeader{
		Kind:    wire.KindRequest,
		ID:      1,
		Type:    7,
		Timeout: 250 * time.Millisecond,
		Meta:    wire.AppendMeta(nil, "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
	}
	buf, err := n.AppendFrame(nil, &h, []byte{0x3f, 0xc0, 0x00, 0x00})
	if err != nil {
		panic(err)
	}
	_, fr, ok, err := n.ParseFrame(buf)
	fmt.Println(ok, err, fr.Kind, fr.ID, fr.Type, fr.Timeout, fr.Payload)
	_ = wire.RangeMeta(fr.Meta, func(k, v []byte) bool {
		fmt.Printf("%s: %s\n", k, v)
		return true
	})
	// Output:
	// true <nil> request 1 7 250ms [63 192 0 0]
	// traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}

// ParseFrame says "need more bytes" with ok == false and a nil error.
func ExampleNative_ParseFrame() {
	n := &wire.Native{}
	buf := n.AppendError(nil, 9, wire.CodeRateLimited, true, "slow down")
	_, _, ok, err := n.ParseFrame(buf[:5])
	fmt.Println(ok, err)
	_, fr, ok, err := n.ParseFrame(buf)
	fmt.Println(ok, err, fr.Kind, fr.ID, wire.Code(fr.Type), fr.Flags&wire.FlagNotProcessed != 0, string(fr.Payload))
	// Output:
	// false <nil>
	// true <nil> error 9 rate limited true slow down
}

// Each side opens with a preface carrying its configuration's fingerprint
// and description; a mismatch is named, not discovered by a hang.
func ExampleParsePreface() {
	local := wire.Description{Header: ">H", Checksum: "crc32", NotFound: 65535,
		Types: []wire.TypeDescription{{Code: 1, Fields: []string{"temp:>f"}}}}
	peer := local
	peer.Types = []wire.TypeDescription{{Code: 1, Fields: []string{"temp:>d"}}}

	desc := peer.Marshal()
	buf, err := wire.AppendPreface(nil, &wire.Preface{Role: wire.RoleClient, Features: wire.FeatureDeadlines | wire.FeatureCancel,
		Fingerprint: peer.Fingerprint(), Description: desc})
	if err != nil {
		panic(err)
	}
	prefix, complete := wire.MatchMagic(buf[:3])
	fmt.Println(prefix, complete)

	p, n, ok, err := wire.ParsePreface(buf)
	fmt.Println(ok, err, n == len(buf), p.Role)
	if p.Fingerprint != local.Fingerprint() {
		remote, err := wire.ParseDescription(p.Description)
		if err != nil {
			panic(err)
		}
		for _, line := range local.Diff(remote) {
			fmt.Println(line)
		}
	}
	// Output:
	// true false
	// true <nil> true client
	// type 1: field 1: local "temp:>f", peer "temp:>d"
}
