package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Magic opens every native-profile connection: "\xffBPN\r\n\x1a\n". No
// compatible peer sends it (see docs/wire-format.md).
var Magic = [8]byte{0xff, 'B', 'P', 'N', '\r', '\n', 0x1a, '\n'}

// NativeVersion is the version of the native profile this package speaks.
const NativeVersion = 1

// PrefaceMin is the size of a preface with an empty description: magic
// (8), version (1), role (1), features (4), max_streams (4),
// keepalive_ms (4), fingerprint (32) and desc_len (2).
const PrefaceMin = 56

// MaxDescription bounds the description a preface carries, in bytes.
const MaxDescription = math.MaxUint16

// Feature bits of a preface. A receiver ignores the bits it does not know.
const (
	FeatureDeadlines = 1 << 0 // requests may carry the caller's remaining time
	FeatureCancel    = 1 << 1 // CANCEL frames are understood
	FeatureKeepalive = 1 << 2 // PING frames are answered
	FeatureGoAway    = 1 << 3 // GOAWAY frames are understood
	FeatureMeta      = 1 << 4 // requests and messages may carry meta entries
)

// Role says which side of a connection sent a preface.
type Role uint8

// The roles of a preface.
const (
	RoleClient Role = 1
	RoleServer Role = 2
)

// String returns "client", "server" or "role N".
func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	}
	return fmt.Sprintf("role %d", uint8(r))
}

// Preface is what each side of a native connection sends first, the client
// before anything else and the server in answer:
//
//	| magic (8) | version u8 | role u8 | features u32 BE | max_streams u32 BE
//	| keepalive_ms u32 BE | fingerprint (32) | desc_len u16 BE | description |
type Preface struct {
	Version     uint8         // NativeVersion; AppendPreface writes it for 0
	Role        Role          // RoleClient or RoleServer
	Features    uint32        // Feature* bits
	MaxStreams  uint32        // server: its concurrent-stream limit; client: 0
	Keepalive   time.Duration // the sender's ping interval, 0 = none; whole ms on the wire (rounded up)
	Fingerprint [32]byte      // SHA-256 of the description (Description.Fingerprint)
	Description []byte        // Description.Marshal, at most MaxDescription bytes; may be empty
}

// MatchMagic reports whether b, the first bytes of a connection (possibly
// fewer than 8), could still be the magic (prefix) and whether all 8 bytes
// are there and match (complete). Bytes past the eighth are ignored.
func MatchMagic(b []byte) (prefix, complete bool) {
	n := min(len(b), len(Magic))
	if !bytes.Equal(b[:n], Magic[:n]) {
		return false, false
	}
	return true, n == len(Magic)
}

// AppendPreface appends p to dst. A role other than RoleClient or
// RoleServer, a negative keepalive or one over 2³²-1 ms is ErrRange; a
// description over MaxDescription bytes is ErrTooLarge.
func AppendPreface(dst []byte, p *Preface) ([]byte, error) {
	if p.Role != RoleClient && p.Role != RoleServer {
		return dst, fmt.Errorf("%w: preface %v", ErrRange, p.Role)
	}
	ms := p.Keepalive / time.Millisecond
	if p.Keepalive%time.Millisecond != 0 {
		ms++
	}
	if ms < 0 || ms > math.MaxUint32 {
		return dst, fmt.Errorf("%w: keepalive %v", ErrRange, p.Keepalive)
	}
	if len(p.Description) > MaxDescription {
		return dst, fmt.Errorf("%w: description of %d bytes exceeds the maximum of %d", ErrTooLarge, len(p.Description), MaxDescription)
	}
	version := p.Version
	if version == 0 {
		version = NativeVersion
	}
	dst = append(dst, Magic[:]...)
	dst = append(dst, version, byte(p.Role))
	dst = binary.BigEndian.AppendUint32(dst, p.Features)
	dst = binary.BigEndian.AppendUint32(dst, p.MaxStreams)
	dst = binary.BigEndian.AppendUint32(dst, uint32(ms))
	dst = append(dst, p.Fingerprint[:]...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(p.Description)))
	return append(dst, p.Description...), nil
}

// ParsePreface parses a preface at the start of buf: ok == false with a
// nil error means more bytes are needed; n is the bytes it took. Bytes
// that cannot begin the magic are ErrNotNative (a compatible peer, say),
// a version other than NativeVersion ErrNativeVersion, both as soon as the
// bytes that tell are there. An unknown role, or a non-empty description
// whose SHA-256 is not the fingerprint, is ErrFormat. p.Description
// aliases buf.
func ParsePreface(buf []byte) (p Preface, n int, ok bool, err error) {
	prefix, complete := MatchMagic(buf)
	switch {
	case !prefix:
		return Preface{}, 0, false, fmt.Errorf("%w: first bytes %x", ErrNotNative, buf[:min(len(buf), len(Magic))])
	case !complete:
		return Preface{}, 0, false, nil
	}
	if len(buf) > len(Magic) && buf[len(Magic)] != NativeVersion {
		return Preface{}, 0, false, fmt.Errorf("%w: %d", ErrNativeVersion, buf[len(Magic)])
	}
	if len(buf) < PrefaceMin {
		return Preface{}, 0, false, nil
	}
	n = PrefaceMin + int(binary.BigEndian.Uint16(buf[PrefaceMin-2:]))
	if len(buf) < n {
		return Preface{}, 0, false, nil
	}
	p = Preface{
		Version:     buf[8],
		Role:        Role(buf[9]),
		Features:    binary.BigEndian.Uint32(buf[10:]),
		MaxStreams:  binary.BigEndian.Uint32(buf[14:]),
		Keepalive:   time.Duration(binary.BigEndian.Uint32(buf[18:])) * time.Millisecond,
		Description: buf[PrefaceMin:n:n],
	}
	copy(p.Fingerprint[:], buf[22:54])
	if p.Role != RoleClient && p.Role != RoleServer {
		return Preface{}, 0, false, fmt.Errorf("%w: preface of %v", ErrFormat, p.Role)
	}
	if len(p.Description) > 0 && sha256.Sum256(p.Description) != p.Fingerprint {
		return Preface{}, 0, false, fmt.Errorf("%w: the preface's fingerprint is not its description's", ErrFormat)
	}
	return p, n, true, nil
}
