package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/binproto/binproto/wire"
)

// Native is the framing of the native profile (see docs/wire-format.md):
// self-delimiting frames with a kind and a request id. Its layout is N. It
// runs over streams only.
type Native struct{ N *wire.Native }

// NewReader implements Framing.
func (n Native) NewReader(r io.Reader, bufSize int, reserve func(need int) error) FrameReader {
	nr := &nativeReader{n: *n.N}
	nr.FrameReader = wire.NewNativeReader(r, &nr.n, bufSize)
	nr.FrameReader.Reserve = reserve
	return nr
}

// errNativeDatagram is the error of a native frame offered as a datagram.
var errNativeDatagram = errors.New("binproto: the native profile runs over streams only")

// ParseDatagram implements Framing: the native profile has no datagrams.
func (Native) ParseDatagram([]byte) (wire.Frame, error) { return wire.Frame{}, errNativeDatagram }

// nativeReader is a wire.FrameReader over a native layout of its own, whose
// maximum payload it may change.
type nativeReader struct {
	*wire.FrameReader
	n wire.Native
}

func (r *nativeReader) SetMaxPayload(n int) { r.n.MaxPayload = n }

// maxSniff bounds the bytes a server reads to tell the profiles apart: the
// preface of a client, whose description is short (a client sends its
// fingerprint; the server names differences from its own side).
const maxSniff = wire.PrefaceMin + 4096

// Sniff reads the first bytes of a stream to tell the native profile from
// the compatible one: a peer that opens with the native magic is native,
// and its preface is read and returned, and the connection's frames are
// read with native from then on; any other first byte means the compatible
// profile (nil, nil), and the bytes read are the start of its first frame.
// With wait > 0, a peer that sends nothing within wait is taken for a
// compatible one (a server that speaks first cannot wait for it longer).
// Called by the reader, from Dispatcher.Begin.
func (c *Conn) Sniff(wait time.Duration, native Framing) (*wire.Preface, error) {
	if c.datagram {
		return nil, nil
	}
	buf := make([]byte, 0, 64)
	if wait > 0 {
		ctx, cancel := context.WithTimeout(c.ctx, wait)
		stop := c.dl.callStart(ctx)
		n, err := c.readRaw(buf[:cap(buf)], false)
		c.dl.callEnd(stop)
		cancel()
		buf = buf[:n]
		if n == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil && c.ctx.Err() == nil {
				return nil, nil // silent: a compatible peer waiting for the server to speak
			}
			return nil, err
		}
	}
	for {
		prefix, complete := wire.MatchMagic(buf)
		if !prefix {
			c.rd.Prime(buf)
			return nil, nil
		}
		if complete {
			p, used, ok, err := wire.ParsePreface(buf)
			if err != nil {
				return nil, &CloseError{Reason: ReasonMalformed, Err: err}
			}
			if ok {
				p.Description = append([]byte(nil), p.Description...)
				c.rd.Release()
				c.rd = native.NewReader(connReader{c}, c.opts.BufferSize, c.reserveFunc())
				c.rd.Prime(buf[used:])
				return &p, nil
			}
		}
		if len(buf) == cap(buf) {
			if cap(buf) >= maxSniff {
				return nil, &CloseError{Reason: ReasonMalformed, Err: fmt.Errorf("%w: preface longer than %d bytes", wire.ErrTooLarge, maxSniff)}
			}
			buf = append(buf, make([]byte, min(2*cap(buf), maxSniff)-len(buf))...)[:len(buf)]
		}
		n, err := c.readRaw(buf[len(buf):cap(buf)], len(buf) > 0)
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// Prime hands b, bytes read from the stream before its frames (a client's
// handshake read past the server's preface), to the frame reader, and
// switches it to framing f when f is not nil. Called by the reader before
// the first frame is read.
func (c *Conn) Prime(f Framing, b []byte) {
	if f != nil {
		c.rd.Release()
		c.rd = f.NewReader(connReader{c}, c.opts.BufferSize, c.reserveFunc())
	}
	c.rd.Prime(b)
}
