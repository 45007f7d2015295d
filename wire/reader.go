package wire

import (
	"errors"
	"fmt"
	"io"

	"github.com/binproto/binproto/internal/bufpool"
)

// DefaultReadBufferSize is the FrameReader buffer size used when none is given.
const DefaultReadBufferSize = 4096

// FrameReader reads frames from a stream. It owns its buffer: the Frame
// returned by ReadFrame, payload included, is valid only until the next call
// to ReadFrame. The declared length of a variable frame is checked against
// the maximum payload size before the buffer grows or anything more is read;
// the buffer then grows geometrically with the bytes received, not to the
// declared length at once; and a buffer grown past 64 KiB for a large frame
// goes back to a pool shared by all readers once that frame has been
// consumed, so that the next large frame, on any connection, reuses it.
//
// A FrameReader is not safe for concurrent use: one goroutine owns it.
type FrameReader struct {
	r       io.Reader
	framing *Framing // the compatible layout, or nil
	native  Native   // the native layout, the reader's own copy
	buf     []byte   // buf[start:end] holds unread bytes
	box     *[]byte  // the pool's handle on buf, for returning it
	start   int
	end     int
	initial int
	err     error // sticky error: any but a timeout

	need int // the bytes the frame being read needs buffered (see Need)

	// Reserve, if set, is called before the buffer grows or is read into
	// for a frame that needs need bytes buffered in all (the header's, then
	// the whole frame's once its length is known); an error ends the read
	// with that error (a timeout leaves the reader usable). A server uses it
	// to take the frame's memory from a shared budget before the buffer
	// grows for it.
	Reserve func(need int) error

	// BeforeRead, if set, is called before every Read on the underlying
	// reader. partial reports whether part of the next frame is already
	// buffered, so a caller can arm an idle deadline while waiting for a new
	// frame and a whole-frame deadline once a frame has begun.
	BeforeRead func(partial bool)
}

// NewFrameReader returns a reader of frames laid out by f, with a buffer of
// bufSize bytes (DefaultReadBufferSize if bufSize <= 0).
func NewFrameReader(r io.Reader, f *Framing, bufSize int) *FrameReader {
	if bufSize <= 0 {
		bufSize = DefaultReadBufferSize
	}
	return &FrameReader{r: r, framing: f, initial: bufSize}
}

// NewNativeReader returns a reader of native-profile frames laid out by n
// (a copy of which the reader keeps: see SetMaxPayload), with a buffer of
// bufSize bytes (DefaultReadBufferSize if bufSize <= 0). The declared
// length of each frame is checked against n.MaxFrame before the buffer
// grows for it. The prefaces are not frames: read them first (ParsePreface
// over the connection's first bytes) and hand the bytes read past the
// preface to Prime.
func NewNativeReader(r io.Reader, n *Native, bufSize int) *FrameReader {
	if bufSize <= 0 {
		bufSize = DefaultReadBufferSize
	}
	return &FrameReader{r: r, native: *n, initial: bufSize}
}

// SetMaxPayload sets the largest payload the reader accepts from the next
// frame on (0 means DefaultMaxPayload). A native reader changes its own
// copy of the Native it was made with; a compatible reader changes the
// Framing given to NewFrameReader, which the caller must then not share.
// A server lowers the limit for a connection that has not authenticated
// yet.
func (fr *FrameReader) SetMaxPayload(n int) {
	if fr.framing != nil {
		fr.framing.MaxPayload = n
		return
	}
	fr.native.MaxPayload = n
}

// Prime places b in the reader's buffer as if it had been read from the
// stream, after any bytes already buffered: the bytes a server read from a
// new connection to tell the profiles apart, say, or those a preface read
// took past its end. b is copied; Reserve is not called for it.
func (fr *FrameReader) Prime(b []byte) {
	if len(b) == 0 {
		return
	}
	if len(fr.buf)-fr.end < len(b) {
		fr.moveTo(frameBuffers.Get(max(fr.initial, fr.Buffered()+len(b))))
	}
	fr.end += copy(fr.buf[fr.end:], b)
}

// Need returns, while ReadFrame reads from the stream (to the reader under
// it, during its Read), how many bytes must be buffered before the next
// frame can be returned: the whole frame's length once its header and
// declared length are in, the bytes of the header until then; 0 between
// reads.
func (fr *FrameReader) Need() int { return fr.need }

// Buffered returns the number of bytes read from the stream but not yet
// returned as frames.
func (fr *FrameReader) Buffered() int { return fr.end - fr.start }

// ReadFrame returns the next frame. At a clean end of stream (no partial
// frame buffered) it returns io.EOF; a stream that ends inside a frame
// returns io.ErrUnexpectedEOF. Malformed frames return the errors of
// Framing.ParseFrame (Native.ParseFrame for a native reader); after any error the reader is unusable, except a
// timeout (an error with a Timeout method that reports true, such as a
// read deadline's os.ErrDeadlineExceeded): a timeout leaves the reader
// usable; the next ReadFrame continues the frame, whose bytes read so far
// stay buffered.
func (fr *FrameReader) ReadFrame() (Frame, error) {
	if fr.err != nil {
		return Frame{}, fr.err
	}
	fr.release()
	for {
		f, n, need, err := fr.scan()
		if err != nil {
			fr.err = err
			return Frame{}, err
		}
		if n != 0 {
			fr.start += n
			return f, nil
		}
		if err := fr.fill(need); err != nil {
			if !isTimeout(err) {
				fr.err = err
			}
			return Frame{}, err
		}
	}
}

// scan parses the frame at the start of the buffered bytes, with a direct
// call for either layout (an interface call costs the compatible path's
// small frames a measurable share of their time).
func (fr *FrameReader) scan() (f Frame, n, need int, err error) {
	if fr.framing != nil {
		return fr.framing.scan(fr.buf[fr.start:fr.end])
	}
	return fr.native.scan(fr.buf[fr.start:fr.end])
}

// keepBuffer is the largest buffer a FrameReader keeps once the frame it
// was grown for has been consumed; a larger one goes back to the pool, so
// that one big frame does not pin its memory for the life of the
// connection.
const keepBuffer = 64 << 10

// frameBuffers is where readers take the buffers they grow into and return
// the large ones: the pool shared with the rest of binproto, whose
// power-of-two classes cover frames of any size up to the largest
// MaxPayload. A reader reuses a buffer freed by an earlier large frame
// instead of growing a new one step by step for every frame; the pool
// empties itself at garbage collection, so idle programs keep nothing.
// Tests swap it for an empty pool.
var frameBuffers = bufpool.Shared

// release rewinds an empty buffer and hands one grown past keepBuffer back
// to the pool.
func (fr *FrameReader) release() {
	if fr.start == fr.end {
		fr.start, fr.end = 0, 0
		if cap(fr.buf) > max(fr.initial, keepBuffer) {
			fr.putBuf()
		}
	}
}

// Release gives the reader's buffer back to the pool when nothing is
// buffered or the reader has failed (the last frame returned is then no
// longer valid), and reports whether it did. The reader stays usable: the next ReadFrame takes a
// buffer again. A connection calls it when it ends, or when it goes idle
// so that an idle connection holds no read buffer.
func (fr *FrameReader) Release() bool {
	if fr.start != fr.end && fr.err == nil {
		return false
	}
	fr.start, fr.end = 0, 0
	fr.putBuf()
	return true
}

// putBuf returns the reader's buffer to the pool.
func (fr *FrameReader) putBuf() {
	if fr.box != nil {
		*fr.box = fr.buf[:0]
		frameBuffers.Put(fr.box)
	}
	fr.buf, fr.box = nil, nil
}

// fill reads until at least need bytes are buffered. The buffer grows with
// the bytes that actually arrive, at most doubling at each step, and never
// past need: a peer that declares a large frame and sends little of it
// makes the reader allocate about what it sent, not what it declared (it
// may borrow a pooled buffer that an earlier large frame freed).
func (fr *FrameReader) fill(need int) error {
	fr.need = need
	defer func() { fr.need = 0 }()
	if fr.Reserve != nil {
		if err := fr.Reserve(need); err != nil {
			return err
		}
	}
	for fr.Buffered() < need {
		if fr.end == len(fr.buf) || (fr.start > 0 && fr.start+need > len(fr.buf)) {
			fr.grow(need)
		}
		if fr.BeforeRead != nil {
			fr.BeforeRead(fr.Buffered() > 0)
		}
		m, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += m
		if err == nil {
			continue
		}
		if fr.Buffered() >= need {
			return nil
		}
		if errors.Is(err, io.EOF) {
			if fr.Buffered() == 0 {
				return io.EOF
			}
			return fmt.Errorf("%w: stream ended inside a frame (%d of %d bytes)", io.ErrUnexpectedEOF, fr.Buffered(), need)
		}
		return err
	}
	return nil
}

// grow moves the buffered bytes to the front of the buffer and makes room
// after them for at least one more byte of a frame of need bytes (need >
// Buffered()): the new size is max(initial, min(need, 2*Buffered())),
// rounded up to the pool's power-of-two class, so the buffer reaches a
// large frame's size only as its bytes arrive. A buffer already in the
// pool that holds the whole frame (memory freed by an earlier frame) is
// taken instead when there is one, saving the steps.
func (fr *FrameReader) grow(need int) {
	size := max(fr.initial, min(need, 2*fr.Buffered()))
	if size <= len(fr.buf) {
		fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
		fr.start = 0
		return
	}
	nb := frameBuffers.TryGet(max(need, size))
	if nb == nil {
		nb = frameBuffers.Get(size)
	}
	fr.moveTo(nb)
}

// moveTo moves the buffered bytes to the front of the pooled buffer nb,
// which becomes the reader's buffer, and returns the old one to the pool.
func (fr *FrameReader) moveTo(nb *[]byte) {
	b := (*nb)[:cap(*nb)]
	n := copy(b, fr.buf[fr.start:fr.end])
	fr.putBuf()
	fr.buf, fr.box = b, nb
	fr.start, fr.end = 0, n
}

// isTimeout reports whether err is a timeout, such as an expired read
// deadline.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
