package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// The limits of a header.
const (
	// MaxV1Length is the longest version 1 line, CRLF included.
	MaxV1Length = 107
	// MaxV2Length bounds the address block (addresses and TLVs) of a
	// version 2 header, so that a whole header fits the 536-byte segment
	// the specification designs it for. A longer one is malformed.
	MaxV2Length = 536 - v2HeaderLen
	// MaxLength is the longest header Parse accepts, of either version.
	MaxLength = v2HeaderLen + MaxV2Length

	v2HeaderLen = 16
)

// Errors, reachable with errors.Is.
var (
	// ErrNoHeader: the bytes do not begin with a PROXY protocol signature.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")
	// ErrMalformed: a header begins but breaks the specification.
	ErrMalformed = errors.New("proxyproto: malformed PROXY protocol header")
)

// Command says whether a header relays a client's connection.
type Command uint8

// The commands. Version 1 headers are Proxy, but "UNKNOWN" ones.
const (
	// Local: the balancer's own connection (a health check, or a version 1
	// "UNKNOWN"): the connection's own addresses apply.
	Local Command = 0
	// Proxy: a relayed connection; Source and Destination are the
	// client's and the address it connected to, when known.
	Proxy Command = 1
)

// Header is a parsed PROXY protocol header.
type Header struct {
	Version int     // 1 or 2
	Command Command // Local or Proxy
	// Source and Destination are the relayed connection's endpoints. They
	// are invalid (the zero AddrPort) for a Local header, a version 1
	// "UNKNOWN" one, and a version 2 one of another family or protocol
	// than TCP over IPv4 or IPv6: then the connection's own addresses
	// apply.
	Source, Destination netip.AddrPort
}

// HasAddress reports whether h carries the client's address.
func (h Header) HasAddress() bool { return h.Command == Proxy && h.Source.IsValid() }

var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// HasSignature reports whether b begins with a whole PROXY protocol
// signature, of either version ("PROXY " or the 12 bytes of version 2).
func HasSignature(b []byte) bool { return bytes.HasPrefix(b, sigV1) || bytes.HasPrefix(b, sigV2) }

// Parse parses the header at the start of buf. It returns the header and
// its length n in bytes; ok == false with a nil error when buf is a valid
// beginning of a header but not a whole one (read more and call again); or
// an error wrapping ErrNoHeader or ErrMalformed. It never reads past
// MaxLength bytes.
func Parse(buf []byte) (h Header, n int, ok bool, err error) {
	switch {
	case len(buf) == 0:
		return h, 0, false, nil
	case buf[0] == sigV1[0]:
		if !bytes.HasPrefix(sigV1, buf[:min(len(buf), len(sigV1))]) {
			return h, 0, false, ErrNoHeader
		}
		return parseV1(buf)
	case buf[0] == sigV2[0]:
		if !bytes.HasPrefix(sigV2, buf[:min(len(buf), len(sigV2))]) {
			return h, 0, false, ErrNoHeader
		}
		return parseV2(buf)
	}
	return h, 0, false, ErrNoHeader
}

// parseV1 parses a version 1 line; buf begins with (a part of) "PROXY ".
func parseV1(buf []byte) (h Header, n int, ok bool, err error) {
	end := bytes.Index(buf[:min(len(buf), MaxV1Length)], []byte("\r\n"))
	if end < 0 {
		if len(buf) >= MaxV1Length || bytes.IndexByte(buf, '\n') >= 0 {
			return h, 0, false, fmt.Errorf("%w: version 1 line without CRLF within %d bytes", ErrMalformed, MaxV1Length)
		}
		return h, 0, false, nil
	}
	line := string(buf[len(sigV1):end])
	h.Version, n = 1, end+2
	fields := splitSpaces(line)
	switch {
	case len(fields) >= 1 && fields[0] == "UNKNOWN":
		if bytes.IndexByte(buf[:end], '\n') >= 0 || bytes.IndexByte(buf[:end], '\r') >= 0 {
			return h, 0, false, fmt.Errorf("%w: stray CR or LF in version 1 line", ErrMalformed)
		}
		h.Command = Local // the rest of the line is ignored
		return h, n, true, nil
	case len(fields) != 5:
		return h, 0, false, fmt.Errorf("%w: version 1 line %q", ErrMalformed, line)
	}
	var want6 bool
	switch fields[0] {
	case "TCP4":
	case "TCP6":
		want6 = true
	default:
		return h, 0, false, fmt.Errorf("%w: version 1 protocol %q", ErrMalformed, fields[0])
	}
	src, err1 := parseV1Addr(fields[1], fields[3], want6)
	dst, err2 := parseV1Addr(fields[2], fields[4], want6)
	if err := errors.Join(err1, err2); err != nil {
		return h, 0, false, err
	}
	h.Command, h.Source, h.Destination = Proxy, src, dst
	return h, n, true, nil
}

// splitSpaces splits s at single spaces; an empty field (two spaces in a
// row, a leading or trailing space) makes the line malformed, which an
// empty string in the result reports.
func splitSpaces(s string) []string {
	var out []string
	for len(s) > 0 && len(out) < 6 {
		i := 0
		for i < len(s) && s[i] != ' ' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			return out
		}
		s = s[i+1:]
		if s == "" {
			out = append(out, "")
		}
	}
	if len(s) > 0 {
		out = append(out, s) // more fields than any valid line
	}
	return out
}

// parseV1Addr parses a version 1 address and port of the family want6
// says.
func parseV1Addr(ip, port string, want6 bool) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" || a.Is6() != want6 {
		return netip.AddrPort{}, fmt.Errorf("%w: version 1 address %q", ErrMalformed, ip)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (len(port) > 1 && port[0] == '0') || port[0] == '+' {
		return netip.AddrPort{}, fmt.Errorf("%w: version 1 port %q", ErrMalformed, port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// The version 2 address families and protocols carrying addresses.
const (
	v2FamInet   = 0x1
	v2FamInet6  = 0x2
	v2ProtoTCP  = 0x1
	v2Inet4Len  = 2*4 + 2*2
	v2Inet6Len  = 2*16 + 2*2
	v2VersionHi = 0x2
)

// parseV2 parses a version 2 header; buf begins with (a part of) its
// signature.
func parseV2(buf []byte) (h Header, n int, ok bool, err error) {
	if len(buf) < v2HeaderLen {
		if len(buf) > len(sigV2) && buf[len(sigV2)]>>4 != v2VersionHi {
			return h, 0, false, fmt.Errorf("%w: version 2 header of version %d", ErrMalformed, buf[len(sigV2)]>>4)
		}
		return h, 0, false, nil
	}
	verCmd, famProto := buf[12], buf[13]
	length := int(binary.BigEndian.Uint16(buf[14:16]))
	switch {
	case verCmd>>4 != v2VersionHi:
		return h, 0, false, fmt.Errorf("%w: version 2 header of version %d", ErrMalformed, verCmd>>4)
	case verCmd&0xF > uint8(Proxy):
		return h, 0, false, fmt.Errorf("%w: version 2 command %d", ErrMalformed, verCmd&0xF)
	case length > MaxV2Length:
		return h, 0, false, fmt.Errorf("%w: version 2 address block of %d bytes, over %d", ErrMalformed, length, MaxV2Length)
	case len(buf) < v2HeaderLen+length:
		return h, 0, false, nil
	}
	h.Version, h.Command, n = 2, Command(verCmd&0xF), v2HeaderLen+length
	if h.Command == Local || famProto&0xF != v2ProtoTCP {
		return h, n, true, nil // the addresses are ignored
	}
	block := buf[v2HeaderLen:n]
	switch famProto >> 4 {
	case v2FamInet:
		if length < v2Inet4Len {
			return h, 0, false, fmt.Errorf("%w: version 2 IPv4 address block of %d bytes", ErrMalformed, length)
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(block[0:4])), binary.BigEndian.Uint16(block[8:10]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(block[4:8])), binary.BigEndian.Uint16(block[10:12]))
	case v2FamInet6:
		if length < v2Inet6Len {
			return h, 0, false, fmt.Errorf("%w: version 2 IPv6 address block of %d bytes", ErrMalformed, length)
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(block[0:16])), binary.BigEndian.Uint16(block[32:34]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(block[16:32])), binary.BigEndian.Uint16(block[34:36]))
	}
	return h, n, true, nil
}
