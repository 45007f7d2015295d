package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/binproto/binproto/wire"
)

func TestDescriptionMarshal(t *testing.T) {
	d := wire.Description{Header: ">H", Checksum: "crc32", NotFound: 65535, Types: []wire.TypeDescription{
		{Code: 7, Fields: []string{"my name:str", "100%:>B"}},
		{Code: 1, Fields: []string{"temp:>f", "id:bytes[16]"}},
		{Code: 3},
	}}
	want := "binproto-config 1\nheader >H\nchecksum crc32\nnotfound 65535\n" +
		"type 1 temp:>f id:bytes[16]\ntype 3\ntype 7 my%20name:str 100%25:>B\n"
	if got := string(d.Marshal()); got != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
	if d.Types[0].Code != 7 {
		t.Error("Marshal reordered d.Types")
	}
	back, err := wire.ParseDescription([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if diff := back.Diff(&d); diff != nil || back.Types[2].Fields[0] != "my name:str" {
		t.Errorf("round trip: %+v, diff %q", back, diff)
	}
}

// The fingerprint of a fixed description never changes: peers of different
// versions of this package compare it.
func TestDescriptionFingerprintStable(t *testing.T) {
	fp := sampleDescription.Fingerprint()
	const want = "4887060e9e463679c8c0dd63be8f44c5b4e8ab067c4a0041a837312dad816f37"
	if got := hex.EncodeToString(fp[:]); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
	// Type order does not matter; a field's format does.
	d := sampleDescription
	d.Types = slices.Clone(d.Types)
	slices.Reverse(d.Types)
	if d.Fingerprint() != fp {
		t.Error("fingerprint depends on the order of Types")
	}
	d.Types[0] = wire.TypeDescription{Code: 3, Fields: []string{"x:>B"}}
	if d.Fingerprint() == fp {
		t.Error("fingerprint ignores a field")
	}
}

func TestDescriptionDiff(t *testing.T) {
	base := func() *wire.Description {
		return &wire.Description{Header: ">H", Checksum: "crc32", NotFound: 65535, Types: []wire.TypeDescription{
			{Code: 1, Fields: []string{"temp:>f"}},
			{Code: 3, Fields: []string{"id:>I", "temp:>f"}},
		}}
	}
	tests := []struct {
		name   string
		change func(d *wire.Description)
		want   []string
	}{
		{"equal", func(*wire.Description) {}, nil},
		{"header", func(d *wire.Description) { d.Header = ">I" }, []string{`header format: local ">H", peer ">I"`}},
		{"checksum", func(d *wire.Description) { d.Checksum = "none" }, []string{`checksum: local crc32, peer none`}},
		{"not found", func(d *wire.Description) { d.NotFound = 255 }, []string{`not-found type: local 65535, peer 255`}},
		{"field format", func(d *wire.Description) { d.Types[1].Fields[1] = "temp:>d" },
			[]string{`type 3: field 2: local "temp:>f", peer "temp:>d"`}},
		{"field only the peer has", func(d *wire.Description) { d.Types[0].Fields = append(d.Types[0].Fields, "x:>B") },
			[]string{`type 1: field 2: only the peer has "x:>B"`}},
		{"field only this side has", func(d *wire.Description) { d.Types[1].Fields = d.Types[1].Fields[:1] },
			[]string{`type 3: field 2: only this side has "temp:>f"`}},
		{"type only the peer has", func(d *wire.Description) { d.Types = append(d.Types, wire.TypeDescription{Code: 7}) },
			[]string{`type 7: only the peer has it`}},
		{"type only this side has", func(d *wire.Description) { d.Types = d.Types[1:] },
			[]string{`type 1: only this side has it`}},
		{"several", func(d *wire.Description) {
			d.Header, d.Types = "<H", []wire.TypeDescription{{Code: 2}, {Code: 3, Fields: []string{"id:>I", "temp:>d"}}}
		}, []string{`header format: local ">H", peer "<H"`, `type 1: only this side has it`, `type 2: only the peer has it`,
			`type 3: field 2: local "temp:>f", peer "temp:>d"`}},
	}
	for _, tt := range tests {
		peer := base()
		tt.change(peer)
		if got := base().Diff(peer); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Diff =\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

func TestParseDescriptionErrors(t *testing.T) {
	good := "binproto-config 1\nheader >H\nchecksum none\nnotfound 255\ntype 1 a:>B\ntype 2\n"
	if _, err := wire.ParseDescription([]byte(good)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text string
		want       error
	}{
		{"empty", "", wire.ErrFormat},
		{"other version", strings.Replace(good, "config 1", "config 2", 1), wire.ErrFormat},
		{"no final newline", strings.TrimSuffix(good, "\n"), wire.ErrFormat},
		{"missing checksum line", strings.Replace(good, "checksum none\n", "", 1), wire.ErrFormat},
		{"lines swapped", strings.Replace(good, "header >H\nchecksum none", "checksum none\nheader >H", 1), wire.ErrFormat},
		{"notfound not a number", strings.Replace(good, "255", "x", 1), wire.ErrFormat},
		{"notfound with a leading zero", strings.Replace(good, "255", "0255", 1), wire.ErrFormat},
		{"notfound with a sign", strings.Replace(good, "255", "+255", 1), wire.ErrFormat},
		{"types out of order", strings.Replace(good, "type 1 a:>B\ntype 2\n", "type 2\ntype 1 a:>B\n", 1), wire.ErrFormat},
		{"duplicate type", strings.Replace(good, "type 2", "type 1", 1), wire.ErrFormat},
		{"space after the header", strings.Replace(good, ">H\n", ">H \n", 1), wire.ErrFormat},
		{"type without code", good + "type\n", wire.ErrFormat},
		{"cut escape", strings.Replace(good, "a:>B", "a%2", 1), wire.ErrFormat},
		{"bad escape", strings.Replace(good, "a:>B", "a%zz", 1), wire.ErrFormat},
		{"needless escape", strings.Replace(good, "a:>B", "%61:>B", 1), wire.ErrFormat},
		{"lower-case escape", strings.Replace(good, "a:>B", "a%2a", 1), wire.ErrFormat},
		{"CRLF", strings.ReplaceAll(good, "\n", "\r\n"), wire.ErrFormat},
		{"unknown line", good + "extra 1\n", wire.ErrFormat},
		{"too large", good + strings.Repeat("type 9\n", wire.MaxDescription/7), wire.ErrTooLarge},
	}
	for _, tt := range tests {
		if d, err := wire.ParseDescription([]byte(tt.text)); !errors.Is(err, tt.want) {
			t.Errorf("%s: ParseDescription = %+v, %v; want %v", tt.name, d, err, tt.want)
		}
	}
}

type customSum struct{}

func (customSum) Size() int                       { return 2 }
func (customSum) Append(dst, frame []byte) []byte { return append(dst, 0, 0) }

func TestChecksumName(t *testing.T) {
	for _, tt := range []struct {
		c    wire.Checksum
		want string
	}{
		{nil, "none"},
		{wire.CRC32, "crc32"},
		{wire.NewCRC32(crc32.IEEETable), "crc32"},
		{wire.CRC32C, "crc32c"},
		{wire.NewCRC32(crc32.MakeTable(crc32.Koopman)), "custom/4"},
		{customSum{}, "custom/2"},
	} {
		if got := wire.ChecksumName(tt.c); got != tt.want {
			t.Errorf("ChecksumName(%T) = %q, want %q", tt.c, got, tt.want)
		}
	}
}

// Every description marshals to text that parses back to it.
func TestDescriptionRoundTripOddNames(t *testing.T) {
	d := wire.Description{Header: "", Checksum: "custom/2", NotFound: 1<<64 - 1, Types: []wire.TypeDescription{
		{Code: 0, Fields: []string{"", " ", "%", "\n", "é:str", "\x00\xff"}},
		{Code: 1<<64 - 1, Fields: []string{"a:b:c"}},
	}}
	b := d.Marshal()
	back, err := wire.ParseDescription(b)
	if err != nil {
		t.Fatalf("ParseDescription(%q): %v", b, err)
	}
	if diff := d.Diff(back); diff != nil || !bytes.Equal(back.Marshal(), b) {
		t.Errorf("round trip of %q: diff %q", b, diff)
	}
}
