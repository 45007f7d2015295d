package proxyproto

import (
	"fmt"
	"io"
)

// Read reads one header from r into a buffer of MaxLength bytes and
// returns it with rest, the bytes read past the header (the start of the
// connection's payload, to be read before r's next bytes). It reads at
// most MaxLength bytes; set a deadline on r to bound the time. An end of
// stream before a whole header is an error wrapping ErrMalformed and
// io.ErrUnexpectedEOF (io.EOF when nothing was read).
func Read(r io.Reader) (h Header, rest []byte, err error) {
	buf := make([]byte, MaxLength)
	filled := 0
	for {
		m, rerr := r.Read(buf[filled:])
		filled += m
		h, n, ok, perr := Parse(buf[:filled])
		switch {
		case perr != nil:
			return Header{}, nil, perr
		case ok:
			if n == filled {
				return h, nil, nil
			}
			return h, buf[n:filled:filled], nil
		case rerr == io.EOF && filled == 0:
			return Header{}, nil, io.EOF
		case rerr == io.EOF:
			return Header{}, nil, fmt.Errorf("%w after %d bytes: %w", ErrMalformed, filled, io.ErrUnexpectedEOF)
		case rerr != nil:
			return Header{}, nil, rerr
		case filled == len(buf):
			// Parse decides within MaxLength bytes; this is defensive.
			return Header{}, nil, fmt.Errorf("%w: no header within %d bytes", ErrMalformed, MaxLength)
		}
	}
}
