// Package proxyproto parses the PROXY protocol header (versions 1 and 2)
// that a load balancer such as HAProxy sends at the start of a connection
// to tell the server the address of the client it relays (HAProxy's
// doc/proxy-protocol.txt).
//
// Parse is a pure function over bytes, in the style of the wire package:
// it never reads, allocates only the result, and reports "need more bytes"
// as ok == false with a nil error. Read reads one header from an
// io.Reader within a fixed byte bound and returns the bytes read past it,
// which belong to the connection's payload.
//
// What is accepted:
//
//   - version 1: one line of at most 107 bytes, "PROXY TCP4 ...",
//     "PROXY TCP6 ..." or "PROXY UNKNOWN ...", strictly as the
//     specification writes it (single spaces, no leading zeros, CRLF);
//   - version 2: the 12-byte signature, version 2, the LOCAL or PROXY
//     command, and an address block of at most MaxV2Length bytes (TLVs
//     after the addresses are skipped). AF_INET and AF_INET6 over STREAM
//     carry addresses; any other family or protocol is accepted as
//     "unspecified" (the connection's own addresses apply), as the
//     specification asks.
//
// Anything else is an error wrapping ErrNoHeader (the bytes do not begin
// with a PROXY signature) or ErrMalformed.
package proxyproto
