package conn

import (
	"context"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/binproto/binproto/internal/bufpool"
)

// DefaultMaxQueued is the outbound queue bound used when WriterOptions
// leaves MaxQueued at zero.
const DefaultMaxQueued = 4 << 20

// chunkSize is the size of the pooled chunks queued frames are copied into.
// A flush pass hands all its chunks to one vectored write (writev on TCP),
// so the chunk size bounds neither frames nor writes; it only sets the
// granularity of the pool. Chunks go back to the pool after each write:
// an idle writer holds none. A chunk may be larger: SendFunc encodes a
// frame expected to be larger into a chunk of its size, and in NoCoalesce
// mode each frame has a chunk of its own. All come from bufpool.Shared,
// in whose classes chunkSize is one.
const chunkSize = 32 << 10

// minRoom is the least free space in the last chunk for SendFunc to encode
// into it rather than into a fresh chunk.
const minRoom = 256

// getChunk returns an empty chunk of capacity at least max(n, chunkSize).
func (w *Writer) getChunk(n int) *[]byte {
	n = max(n, chunkSize)
	if w.opts.NoPool {
		b := make([]byte, 0, n)
		return &b
	}
	return bufpool.Shared.Get(n)
}

func (w *Writer) putChunk(c *[]byte) {
	if !w.opts.NoPool {
		bufpool.Shared.Put(c)
	}
}

// ErrWriterClosed is returned by Writer.Write after the writer was closed;
// after a failed write the error returned wraps both the write's error and
// ErrWriterClosed. errors.Is(ErrWriterClosed, net.ErrClosed) holds.
var ErrWriterClosed error = closedError{}

// closedError is the type of ErrWriterClosed: a sentinel that also matches
// net.ErrClosed.
type closedError struct{}

func (closedError) Error() string        { return "binproto: connection closed" }
func (closedError) Is(target error) bool { return target == net.ErrClosed }

// WriterOptions configures a Writer. The zero value is valid.
type WriterOptions struct {
	// Timeout bounds each Write on the connection; a write that times out
	// closes the connection. Zero or negative: no deadline.
	Timeout time.Duration
	// MaxQueued bounds the bytes queued and not yet taken by a write (as
	// much again may be being written meanwhile). A writer whose queue is
	// full makes further callers wait (up to their context). Zero means
	// DefaultMaxQueued.
	MaxQueued int
	// NoCoalesce writes each frame with its own Write call instead of
	// coalescing queued frames (the performance switch turned off, and the
	// datagram mode: one frame, one datagram).
	NoCoalesce bool
	// NoPool allocates the chunks queued frames are copied into instead of
	// taking them from a pool shared by all writers.
	NoPool bool
	// OnError is called once, from the flushing goroutine, when a write
	// fails, before the writer closes the connection.
	OnError func(error)
	// OnIdle, if set, is called by the flushing goroutine, with the writer
	// unlocked, each time a flush ends with nothing left queued. Others
	// may have queued again by the time it runs.
	OnIdle func()
}

// Writer queues whole frames for a net.Conn and writes them, coalesced, from
// whichever goroutine finds it idle (or, for Send, from a goroutine started
// for the purpose). It is safe for concurrent use.
type Writer struct {
	nc   net.Conn
	opts WriterOptions

	mu       sync.Mutex
	chunks   []*[]byte     // queued bytes in order; NoCoalesce: one frame per chunk
	queued   int           // bytes in chunks
	spare    []*[]byte     // an emptied chunks slice, reused
	hint     int           // the smaller of the last two frames SendFunc encoded
	lastN    int           // the size of the last frame SendFunc encoded
	flushing bool          // a goroutine is in flush
	waiters  int           // goroutines waiting for space
	drained  chan struct{} // closed when a flush pass ends, if waiters > 0
	err      error         // sticky: the first write error, or ErrWriterClosed
	lost     bool          // frames were queued or being written when err was set
	written  uint64        // bytes written so far

	// Owned by the flusher: the vector handed to WriteTo, which consumes
	// it, and iovBuf, which keeps its backing array from pass to pass.
	iov    net.Buffers
	iovBuf [][]byte
}

// NewWriter returns a writer for nc.
func NewWriter(nc net.Conn, opts WriterOptions) *Writer {
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = DefaultMaxQueued
	}
	return &Writer{nc: nc, opts: opts}
}

// Write queues frame (one or more whole frames) and makes sure it gets
// written: it returns once the frame was written by this goroutine, or
// handed to the goroutine currently flushing. The caller keeps frame: an
// idle writer writes it straight from the caller's buffer, in one Write,
// and a busy one copies it into the queue. Write waits while the queue is
// over its bound, until ctx is done.
func (w *Writer) Write(ctx context.Context, frame []byte) error {
	w.mu.Lock()
	if w.err == nil && !w.flushing && w.queued == 0 && !w.opts.NoCoalesce {
		w.flushing = true
		w.mu.Unlock()
		err := w.writeOne(frame)
		w.mu.Lock()
		return w.passDone(len(frame), err)
	}
	w.mu.Unlock()
	flush, err := w.Queue(ctx, frame)
	if flush {
		return w.Flush()
	}
	return err
}

// Send queues frame (one or more whole frames) like Write but does not wait
// for it to be written: when no flush is under way it starts one on a new
// goroutine, so that frames sent in a burst are coalesced into few writes.
// A failed write closes the connection (OnError) and fails later calls.
// frame is copied; the caller keeps it.
func (w *Writer) Send(ctx context.Context, frame []byte) error {
	flush, err := w.Queue(ctx, frame)
	if flush {
		go w.Flush()
	}
	return err
}

// SendFunc is Send for a frame encoded in place: enc appends one or more
// whole frames to dst and returns the result, or returns an error and
// nothing is queued. dst is free space at the end of the queue, so a frame
// that fits is queued without a copy (a larger one is copied). enc runs
// with the writer locked: it must be quick and must not use w. SendFunc
// returns the number of bytes queued.
func (w *Writer) SendFunc(ctx context.Context, enc func(dst []byte) ([]byte, error)) (int, error) {
	flush, n, err := w.queueFunc(ctx, enc)
	if flush {
		go w.Flush()
	}
	return n, err
}

func (w *Writer) queueFunc(ctx context.Context, enc func([]byte) ([]byte, error)) (flush bool, n int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && w.queued > 0 && w.queued >= w.opts.MaxQueued {
		if err := w.waitSpace(ctx); err != nil {
			return false, 0, err
		}
	}
	if w.err != nil {
		return false, 0, w.err
	}
	if w.chunks == nil {
		w.chunks, w.spare = w.spare[:0], nil
	}
	// The frame is encoded straight into the queue: into the room left in
	// the last chunk, or into a fresh chunk large enough for a frame the
	// size of the last two, so that a stream of large frames is encoded in
	// place, in pooled chunks, rather than into memory enc allocates (and
	// one lone large frame does not make the next one take a large chunk).
	last := len(w.chunks) - 1
	want := max(minRoom, w.hint)
	var c *[]byte
	if !w.opts.NoCoalesce && last >= 0 && cap(*w.chunks[last])-len(*w.chunks[last]) >= want {
		c = w.chunks[last]
	}
	fresh := c == nil
	if fresh {
		c = w.getChunk(w.hint)
	}
	room := (*c)[len(*c):len(*c):cap(*c)]
	out, err := enc(room)
	if err != nil {
		if fresh {
			w.putChunk(c)
		}
		return false, 0, err
	}
	n = len(out)
	w.hint, w.lastN = min(n, w.lastN), n
	switch inPlace := n <= cap(room) && (n == 0 || &out[0] == &room[:1][0]); {
	case inPlace:
		*c = (*c)[:len(*c)+n]
		w.queued += n
		if fresh {
			w.chunks = append(w.chunks, c)
		}
	default: // out outgrew the room
		if fresh {
			w.putChunk(c)
		}
		w.appendLocked(out)
	}
	if w.flushing {
		return false, n, nil
	}
	w.flushing = true
	return true, n, nil
}

// Queue appends frame to the queue without writing it. When it returns
// flush == true the caller has become the flusher and must call Flush (after
// releasing any lock of its own that orders frames, so that others can
// queue meanwhile).
func (w *Writer) Queue(ctx context.Context, frame []byte) (flush bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && w.queued > 0 && w.queued+len(frame) > w.opts.MaxQueued {
		if err := w.waitSpace(ctx); err != nil {
			return false, err
		}
	}
	if w.err != nil {
		return false, w.err
	}
	w.appendLocked(frame)
	if w.flushing {
		return false, nil
	}
	w.flushing = true
	return true, nil
}

// appendLocked copies frame into the queue's chunks.
func (w *Writer) appendLocked(frame []byte) {
	w.queued += len(frame)
	if w.chunks == nil {
		w.chunks, w.spare = w.spare[:0], nil
	}
	if w.opts.NoCoalesce {
		c := w.getChunk(len(frame))
		*c = append(*c, frame...)
		w.chunks = append(w.chunks, c)
		return
	}
	for len(frame) > 0 {
		last := len(w.chunks) - 1
		if last < 0 || len(*w.chunks[last]) == cap(*w.chunks[last]) {
			w.chunks = append(w.chunks, w.getChunk(0))
			last++
		}
		c := w.chunks[last]
		n := copy((*c)[len(*c):cap(*c)], frame)
		*c = (*c)[:len(*c)+n]
		frame = frame[n:]
	}
}

// Flush writes the queue until it is empty. Only the goroutine to which
// Queue returned flush == true may call it, once.
func (w *Writer) Flush() error {
	w.mu.Lock()
	return w.flush()
}

// Wait waits until nothing is queued or being written, or ctx is done. If
// the writer failed or was closed while frames were queued or being written
// (they may not have been written), it returns the writer's error; a writer
// closed after everything was written still returns nil.
func (w *Writer) Wait(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && (w.flushing || w.queued > 0) {
		if err := w.waitSpace(ctx); err != nil {
			return err
		}
	}
	if w.err != nil && w.lost {
		return w.err
	}
	return nil
}

// WaitRoom waits until a frame of n bytes fits under the queue's bound (or
// nothing is queued), the writer fails, or ctx is done. It lets a caller
// wait for room before taking a lock of its own, then queue with TryQueue.
func (w *Writer) WaitRoom(ctx context.Context, n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && w.queued > 0 && w.queued+n > w.opts.MaxQueued {
		if err := w.waitSpace(ctx); err != nil {
			return err
		}
	}
	return w.err
}

// TryQueue is Queue without the wait: when frame does not fit under the
// queue's bound it queues nothing and returns queued == false (wait with
// WaitRoom, holding no lock, and try again). admit, if not nil, runs with
// the writer locked once room was found, just before frame is queued; if it
// returns an error nothing is queued and TryQueue returns that error. It
// lets the caller record, in the order of the frames on the wire, what the
// frame is (admit must be quick and must not use w). flush is as for Queue.
func (w *Writer) TryQueue(frame []byte, admit func() error) (queued, flush bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return false, false, w.err
	}
	if w.queued > 0 && w.queued+len(frame) > w.opts.MaxQueued {
		return false, false, nil
	}
	if admit != nil {
		if err := admit(); err != nil {
			return false, false, err
		}
	}
	w.appendLocked(frame)
	if w.flushing {
		return true, false, nil
	}
	w.flushing = true
	return true, true, nil
}

// TryWrite is TryQueue followed by the write: a frame that finds the writer
// idle is written by this goroutine straight from frame, without being
// copied into the queue (as by Write); otherwise it is queued, and written
// by this goroutine if it became the flusher. admit is as for TryQueue. It
// returns queued == false, and nil, when frame does not fit under the
// queue's bound (wait with WaitRoom and try again). When queued is true the
// frame was admitted and err is the error of a write made by this
// goroutine: the writer has then failed and the connection is closed.
// The caller keeps frame.
//
// With gather set (other goroutines are about to write too), a frame that
// finds the writer idle is queued instead, and this goroutine yields once
// before it flushes the queue: the frames the others queue meanwhile share
// its write.
func (w *Writer) TryWrite(frame []byte, admit func() error, gather bool) (queued bool, err error) {
	w.mu.Lock()
	if w.err != nil {
		err = w.err
		w.mu.Unlock()
		return false, err
	}
	if w.queued > 0 && w.queued+len(frame) > w.opts.MaxQueued {
		w.mu.Unlock()
		return false, nil
	}
	if admit != nil {
		if err := admit(); err != nil {
			w.mu.Unlock()
			return false, err
		}
	}
	if !w.flushing && w.queued == 0 && !w.opts.NoCoalesce && !gather {
		w.flushing = true
		w.mu.Unlock()
		err := w.writeOne(frame)
		w.mu.Lock()
		return true, w.passDone(len(frame), err)
	}
	w.appendLocked(frame)
	if w.flushing {
		w.mu.Unlock()
		return true, nil
	}
	w.flushing = true
	if gather && !w.opts.NoCoalesce {
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
	}
	return true, w.flush()
}

// waitSpace waits, with w.mu held on entry and exit, for a flush pass to end.
func (w *Writer) waitSpace(ctx context.Context) error {
	if w.drained == nil {
		w.drained = make(chan struct{})
	}
	ch := w.drained
	w.waiters++
	w.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	}
	w.mu.Lock()
	w.waiters--
	return err
}

// flush is entered with w.mu held and w.flushing set; it returns unlocked.
// Each pass detaches everything queued before unlocking, so that frames
// queued meanwhile go to fresh chunks and are written by the next pass.
func (w *Writer) flush() error {
	for {
		chunks, n := w.chunks, w.queued
		w.chunks, w.queued = nil, 0
		w.mu.Unlock()

		err := w.writeChunks(chunks)
		for i, c := range chunks {
			w.putChunk(c)
			chunks[i] = nil
		}

		w.mu.Lock()
		if w.spare == nil {
			w.spare = chunks[:0]
		}
		if w.endPass(n, err) {
			return w.doneLocked(err)
		}
	}
}

// doneLocked unlocks w.mu at the end of a flush and returns its result: nil,
// or for a failed write the writer's sticky error, which wraps the write's
// error and ErrWriterClosed.
func (w *Writer) doneLocked(err error) error {
	if err != nil && w.err != nil {
		err = w.err
	}
	w.mu.Unlock()
	if err == nil && w.opts.OnIdle != nil {
		w.opts.OnIdle()
	}
	return err
}

// passDone ends a write pass of n bytes (with w.mu held) and goes on
// flushing what was queued meanwhile; it returns unlocked.
func (w *Writer) passDone(n int, err error) error {
	if w.endPass(n, err) {
		return w.doneLocked(err)
	}
	return w.flush()
}

// endPass accounts for a write pass of n bytes that ended with err, with
// w.mu held, and reports whether the flusher is done: the write failed (the
// writer has failed and the connection is being closed) or nothing more is
// queued. On failure it unlocks w.mu while closing the connection and
// calling OnError, and locks it again.
func (w *Writer) endPass(n int, err error) (done bool) {
	w.written += uint64(n)
	if w.drained != nil && w.waiters > 0 {
		close(w.drained)
		w.drained = nil
	}
	if err != nil {
		w.failLocked(err)
		w.flushing = false
		w.mu.Unlock()
		// OnError first, so that whoever owns the connection records why
		// it closes before a reader can see it closed.
		if w.opts.OnError != nil {
			w.opts.OnError(err)
		}
		w.nc.Close()
		w.mu.Lock()
		return true
	}
	if w.queued == 0 {
		w.flushing = false
		return true
	}
	return false
}

// writeOne writes b with one Write.
func (w *Writer) writeOne(b []byte) error {
	if w.opts.Timeout > 0 {
		w.nc.SetWriteDeadline(time.Now().Add(w.opts.Timeout))
	}
	_, err := w.nc.Write(b)
	return err
}

// writeChunks writes the chunks of one pass: all at once (one writev on a
// TCP connection), or one Write per frame in NoCoalesce mode.
func (w *Writer) writeChunks(chunks []*[]byte) error {
	if w.opts.Timeout > 0 {
		w.nc.SetWriteDeadline(time.Now().Add(w.opts.Timeout))
	}
	if w.opts.NoCoalesce {
		for _, c := range chunks {
			if _, err := w.nc.Write(*c); err != nil {
				return err
			}
		}
		return nil
	}
	if len(chunks) == 1 {
		_, err := w.nc.Write(*chunks[0])
		return err
	}
	// WriteTo consumes the vector it is given (it reslices it), so it gets
	// a view of iovBuf, which keeps the backing array for the next pass.
	w.iovBuf = w.iovBuf[:0]
	for _, c := range chunks {
		w.iovBuf = append(w.iovBuf, *c)
	}
	w.iov = w.iovBuf
	_, err := w.iov.WriteTo(w.nc)
	clear(w.iovBuf)
	w.iov = nil
	return err
}

func (w *Writer) failLocked(err error) {
	if w.queued > 0 || w.flushing {
		w.lost = true
	}
	if w.err == nil {
		w.err = err
		if err != ErrWriterClosed {
			w.err = &writeError{err}
		}
	}
	for _, c := range w.chunks {
		w.putChunk(c)
	}
	w.chunks, w.queued, w.spare = nil, 0, nil
	if w.drained != nil {
		close(w.drained)
		w.drained = nil
	}
}

// Close makes later Writes fail with ErrWriterClosed and drops what is
// queued. It does not close the connection.
func (w *Writer) Close() {
	w.mu.Lock()
	w.failLocked(ErrWriterClosed)
	w.mu.Unlock()
}

// Idle reports whether nothing is queued or being written.
func (w *Writer) Idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.flushing && w.queued == 0
}

// Written returns the number of bytes written to the connection.
func (w *Writer) Written() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// writeError wraps the first error of a writer so that every later Write
// reports it while errors.Is still reaches it, ErrWriterClosed and
// net.ErrClosed.
type writeError struct{ err error }

func (e *writeError) Error() string { return "binproto: write failed: " + e.err.Error() }

// Unwrap returns the write's error and ErrWriterClosed (which matches
// net.ErrClosed).
func (e *writeError) Unwrap() []error { return []error{e.err, ErrWriterClosed} }
