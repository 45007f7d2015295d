package wire_test

import (
	"errors"
	"testing"
	"time"

	"github.com/binproto/binproto/wire"
)

func TestMatchMagic(t *testing.T) {
	m := wire.Magic[:]
	for _, tt := range []struct {
		name             string
		b                []byte
		prefix, complete bool
	}{
		{"nothing yet", nil, true, false},
		{"first byte", m[:1], true, false},
		{"seven bytes", m[:7], true, false},
		{"all", m, true, true},
		{"all and more", append(m[:8:8], 0, 1), true, true},
		{"compatible header", []byte{0x00, 0x01}, false, false},
		{"wrong last byte", append(m[:7:7], 0), false, false},
	} {
		if p, c := wire.MatchMagic(tt.b); p != tt.prefix || c != tt.complete {
			t.Errorf("%s: MatchMagic(%x) = %v, %v; want %v, %v", tt.name, tt.b, p, c, tt.prefix, tt.complete)
		}
	}
}

// Every proper prefix of a preface needs more bytes; the version is
// refused as soon as its byte is in.
func TestParsePrefaceTruncated(t *testing.T) {
	d := sampleDescription.Marshal()
	b, err := wire.AppendPreface(nil, &wire.Preface{Role: wire.RoleClient, Fingerprint: sampleDescription.Fingerprint(), Description: d})
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(b) {
		if _, n, ok, err := wire.ParsePreface(b[:i]); ok || err != nil || n != 0 {
			t.Fatalf("ParsePreface(%d bytes) = %d, %v, %v", i, n, ok, err)
		}
	}
	v2 := append([]byte{}, b...)
	v2[8] = 2
	for _, i := range []int{9, wire.PrefaceMin, len(b)} {
		if _, _, _, err := wire.ParsePreface(v2[:i]); !errors.Is(err, wire.ErrNativeVersion) {
			t.Errorf("version 2, %d bytes: %v", i, err)
		}
	}
}

func TestPrefaceErrors(t *testing.T) {
	fp := sampleDescription.Fingerprint()
	for _, tt := range []struct {
		name string
		p    wire.Preface
		want error
	}{
		{"no role", wire.Preface{}, wire.ErrRange},
		{"role 3", wire.Preface{Role: 3}, wire.ErrRange},
		{"negative keepalive", wire.Preface{Role: wire.RoleClient, Keepalive: -time.Millisecond}, wire.ErrRange},
		{"keepalive over 2^32-1 ms", wire.Preface{Role: wire.RoleClient, Keepalive: (1 << 32) * time.Millisecond}, wire.ErrRange},
		{"description too large", wire.Preface{Role: wire.RoleClient, Description: make([]byte, wire.MaxDescription+1)}, wire.ErrTooLarge},
	} {
		if b, err := wire.AppendPreface([]byte("x"), &tt.p); !errors.Is(err, tt.want) || string(b) != "x" {
			t.Errorf("%s: AppendPreface = %q, %v; want %v", tt.name, b, err, tt.want)
		}
	}
	good, err := wire.AppendPreface(nil, &wire.Preface{Role: wire.RoleServer, Fingerprint: fp, Description: sampleDescription.Marshal()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		patch func(b []byte)
		want  error
	}{
		{"magic", func(b []byte) { b[3] = 'X' }, wire.ErrNotNative},
		{"version 0", func(b []byte) { b[8] = 0 }, wire.ErrNativeVersion},
		{"role 0", func(b []byte) { b[9] = 0 }, wire.ErrFormat},
		{"fingerprint", func(b []byte) { b[30] ^= 1 }, wire.ErrFormat},
		{"description", func(b []byte) { b[len(b)-1] ^= 1 }, wire.ErrFormat},
	} {
		b := append([]byte{}, good...)
		tt.patch(b)
		if _, _, ok, err := wire.ParsePreface(b); ok || !errors.Is(err, tt.want) {
			t.Errorf("%s: ParsePreface = %v, %v; want %v", tt.name, ok, err, tt.want)
		}
	}
	// Keepalive rounds up to whole milliseconds; unknown features pass.
	b, err := wire.AppendPreface(nil, &wire.Preface{Role: wire.RoleClient, Features: 1 << 31, Keepalive: 1500 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _, err := wire.ParsePreface(b); err != nil || p.Keepalive != 2*time.Millisecond || p.Features != 1<<31 {
		t.Errorf("ParsePreface = %+v, %v", p, err)
	}
}
