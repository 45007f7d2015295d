package engine

import (
	"io"

	"github.com/binproto/binproto/wire"
)

// Framing is a wire profile: how a byte stream or a datagram becomes
// frames. Compatible is the Python package's framing, Native the native
// profile's.
type Framing interface {
	// NewReader returns a reader of the frames of a stream, with a read
	// buffer of bufSize bytes to begin with. reserve, if not nil, is called
	// before the buffer grows for a frame, with the bytes the frame needs
	// in all; its error ends the read.
	NewReader(r io.Reader, bufSize int, reserve func(need int) error) FrameReader
	// ParseDatagram parses b as exactly one frame.
	ParseDatagram(b []byte) (wire.Frame, error)
}

// FrameReader reads frames from a stream. A frame is valid until the next
// ReadFrame. It is owned by the read goroutine.
type FrameReader interface {
	// ReadFrame returns the next frame. After a timeout the reader stays
	// usable; after any other error it is not.
	ReadFrame() (wire.Frame, error)
	// Buffered returns the bytes read and not yet returned as frames.
	Buffered() int
	// SetMaxPayload lowers or restores the largest payload accepted (a
	// connection that has not authenticated yet gets a lower one).
	SetMaxPayload(n int)
	// Prime places b, bytes read from the stream before the reader took it
	// over, at the start of its buffer, as if the reader had read them.
	Prime(b []byte)
	// Release gives the read buffer back to its pool when nothing is
	// buffered (or reading failed).
	Release() bool
}

// Compatible is the framing of the Python package binary_protocol (see
// docs/wire-format.md): its layout is F.
type Compatible struct{ F *wire.Framing }

// NewReader implements Framing.
func (c Compatible) NewReader(r io.Reader, bufSize int, reserve func(need int) error) FrameReader {
	cr := &compatReader{f: *c.F}
	cr.FrameReader = wire.NewFrameReader(r, &cr.f, bufSize)
	cr.FrameReader.Reserve = reserve
	return cr
}

// ParseDatagram implements Framing.
func (c Compatible) ParseDatagram(b []byte) (wire.Frame, error) { return c.F.ParseExact(b) }

// compatReader is a wire.FrameReader over a framing of its own, whose
// maximum payload it may change.
type compatReader struct {
	*wire.FrameReader
	f wire.Framing
}

func (r *compatReader) SetMaxPayload(n int) { r.f.MaxPayload = n }
