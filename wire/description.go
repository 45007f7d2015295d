package wire

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
)

// Description is a canonical account of a configuration: what two native
// peers must agree on. Its fingerprint travels in the preface, and Diff
// names the differences of two of them. Marshal gives its canonical text:
//
//	binproto-config 1
//	header >H
//	checksum crc32
//	notfound 65535
//	type 1 temp:>f id:bytes[16]
//
// with one "type" line per message type in ascending code order. Bytes of
// a name outside the printable ASCII range, spaces and '%' are written
// %XX (upper-case hex).
type Description struct {
	Header   string            // the header format, e.g. ">H"
	Checksum string            // ChecksumName of the checksum
	NotFound uint64            // the not-found type
	Types    []TypeDescription // sorted by Code on Marshal
}

// TypeDescription is the structure of one message type.
type TypeDescription struct {
	Code   uint64   // the message type
	Fields []string // one per field, "name:format", e.g. "temp:>f", "name:str", "id:bytes[16]"
}

// descriptionMagic is the first line of a description.
const descriptionMagic = "binproto-config 1\n"

// ChecksumName returns the name a Description gives c: "none" for nil,
// "crc32" and "crc32c" for CRC32 and CRC32C, else "custom/<size>".
func ChecksumName(c Checksum) string {
	if c == nil {
		return "none"
	}
	if c, ok := c.(crc32Checksum); ok {
		switch c.table {
		case crc32.IEEETable:
			return "crc32"
		case crc32.MakeTable(crc32.Castagnoli):
			return "crc32c"
		}
	}
	return "custom/" + strconv.Itoa(c.Size())
}

// Marshal returns the canonical text of d (see Description). It does not
// modify d.
func (d *Description) Marshal() []byte {
	b := []byte(descriptionMagic)
	b = appendLine(b, "header", d.Header)
	b = appendLine(b, "checksum", d.Checksum)
	b = append(b, "notfound "...)
	b = strconv.AppendUint(b, d.NotFound, 10)
	b = append(b, '\n')
	for _, t := range d.sortedTypes() {
		b = append(b, "type "...)
		b = strconv.AppendUint(b, t.Code, 10)
		for _, f := range t.Fields {
			b = appendEscaped(append(b, ' '), f)
		}
		b = append(b, '\n')
	}
	return b
}

// sortedTypes returns d.Types sorted by code, without touching d.Types.
func (d *Description) sortedTypes() []TypeDescription {
	return slices.SortedStableFunc(slices.Values(d.Types), func(a, b TypeDescription) int { return cmp.Compare(a.Code, b.Code) })
}

func appendLine(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, ' ')
	return append(appendEscaped(b, value), '\n')
}

// appendEscaped appends s with the bytes that are not printable ASCII,
// spaces and '%' written %XX.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '%' {
			b = append(b, '%', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// unescape reverses appendEscaped.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%w: description: cut escape in %q", ErrFormat, s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("%w: description: bad escape in %q", ErrFormat, s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// Fingerprint returns the SHA-256 of d.Marshal().
func (d *Description) Fingerprint() [32]byte { return sha256.Sum256(d.Marshal()) }

// ParseDescription parses the canonical text Marshal produces, strictly:
// anything else (another first line, a missing or misplaced line, types not
// in strictly ascending order, a number or escape not in canonical form,
// no final newline) is ErrFormat, and more than MaxDescription bytes
// ErrTooLarge.
func ParseDescription(b []byte) (*Description, error) {
	if len(b) > MaxDescription {
		return nil, fmt.Errorf("%w: description of %d bytes exceeds the maximum of %d", ErrTooLarge, len(b), MaxDescription)
	}
	rest, ok := bytes.CutPrefix(b, []byte(descriptionMagic))
	if !ok {
		return nil, fmt.Errorf("%w: description does not begin %q", ErrFormat, descriptionMagic)
	}
	lines := strings.Split(string(rest), "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return nil, fmt.Errorf("%w: description: missing lines or final newline", ErrFormat)
	}
	lines = lines[:len(lines)-1]
	var d Description
	var err error
	if d.Header, err = lineValue(lines[0], "header"); err != nil {
		return nil, err
	}
	if d.Checksum, err = lineValue(lines[1], "checksum"); err != nil {
		return nil, err
	}
	nf, err := lineValue(lines[2], "notfound")
	if err == nil {
		d.NotFound, err = strconv.ParseUint(nf, 10, 64)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: description: notfound line %q", ErrFormat, lines[2])
	}
	for _, line := range lines[3:] {
		t, err := parseTypeLine(line)
		if err != nil {
			return nil, err
		}
		if n := len(d.Types); n > 0 && d.Types[n-1].Code >= t.Code {
			return nil, fmt.Errorf("%w: description: type %d out of order", ErrFormat, t.Code)
		}
		d.Types = append(d.Types, t)
	}
	// The parse above is lenient about the form of numbers and escapes:
	// canonical means that it marshals back to the same bytes.
	if !bytes.Equal(d.Marshal(), b) {
		return nil, fmt.Errorf("%w: description is not in canonical form", ErrFormat)
	}
	return &d, nil
}

// lineValue returns the unescaped value of a line "key value".
func lineValue(line, key string) (string, error) {
	v, ok := strings.CutPrefix(line, key+" ")
	if !ok || strings.Contains(v, " ") {
		return "", fmt.Errorf("%w: description: want a %s line, got %q", ErrFormat, key, line)
	}
	return unescape(v)
}

// parseTypeLine parses "type <code> <field>...".
func parseTypeLine(line string) (TypeDescription, error) {
	words := strings.Split(line, " ")
	if len(words) < 2 || words[0] != "type" {
		return TypeDescription{}, fmt.Errorf("%w: description: want a type line, got %q", ErrFormat, line)
	}
	code, err := strconv.ParseUint(words[1], 10, 64)
	if err != nil {
		return TypeDescription{}, fmt.Errorf("%w: description: type code %q", ErrFormat, words[1])
	}
	t := TypeDescription{Code: code}
	for _, w := range words[2:] {
		f, err := unescape(w)
		if err != nil {
			return TypeDescription{}, err
		}
		t.Fields = append(t.Fields, f)
	}
	return t, nil
}

// Diff names every difference of remote from d (the local description),
// one human-readable line each, such as
//
//	header format: local ">H", peer ">I"
//	checksum: local crc32, peer none
//	type 3: field 2: local "temp:>f", peer "temp:>d"
//	type 7: only the peer has it
//
// It returns nil when they are equal. remote must not be nil.
func (d *Description) Diff(remote *Description) []string {
	var out []string
	if d.Header != remote.Header {
		out = append(out, fmt.Sprintf("header format: local %q, peer %q", d.Header, remote.Header))
	}
	if d.Checksum != remote.Checksum {
		out = append(out, fmt.Sprintf("checksum: local %s, peer %s", d.Checksum, remote.Checksum))
	}
	if d.NotFound != remote.NotFound {
		out = append(out, fmt.Sprintf("not-found type: local %d, peer %d", d.NotFound, remote.NotFound))
	}
	local, peer := d.sortedTypes(), remote.sortedTypes()
	for len(local) > 0 || len(peer) > 0 {
		switch {
		case len(peer) == 0 || len(local) > 0 && local[0].Code < peer[0].Code:
			out = append(out, fmt.Sprintf("type %d: only this side has it", local[0].Code))
			local = local[1:]
		case len(local) == 0 || peer[0].Code < local[0].Code:
			out = append(out, fmt.Sprintf("type %d: only the peer has it", peer[0].Code))
			peer = peer[1:]
		default:
			out = append(out, diffFields(local[0], peer[0])...)
			local, peer = local[1:], peer[1:]
		}
	}
	return out
}

// diffFields names the field differences of two descriptions of one type.
func diffFields(local, peer TypeDescription) []string {
	var out []string
	for i := range max(len(local.Fields), len(peer.Fields)) {
		switch {
		case i >= len(peer.Fields):
			out = append(out, fmt.Sprintf("type %d: field %d: only this side has %q", local.Code, i+1, local.Fields[i]))
		case i >= len(local.Fields):
			out = append(out, fmt.Sprintf("type %d: field %d: only the peer has %q", local.Code, i+1, peer.Fields[i]))
		case local.Fields[i] != peer.Fields[i]:
			out = append(out, fmt.Sprintf("type %d: field %d: local %q, peer %q", local.Code, i+1, local.Fields[i], peer.Fields[i]))
		}
	}
	return out
}
