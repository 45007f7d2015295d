package conn

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// DefaultMaxQueued is the outbound queue bound used when WriterOptions
// leaves MaxQueued at zero.
const DefaultMaxQueued = 4 << 20

// keepSpare is the largest buffer a Writer keeps between flushes; larger
// ones, grown for big frames, are released so idle connections stay small.
const keepSpare = 64 << 10

// ErrWriterClosed is returned by Writer.Write after the writer failed or was
// closed; errors.Is(err, net.ErrClosed) also holds for it.
var ErrWriterClosed = errors.New("binproto: connection closed")

// WriterOptions configures a Writer. The zero value is valid.
type WriterOptions struct {
	// Timeout bounds each Write on the connection; a write that times out
	// closes the connection. Zero or negative: no deadline.
	Timeout time.Duration
	// MaxQueued bounds the bytes queued and not yet written. A writer whose
	// queue is full makes further callers wait (up to their context). Zero
	// means DefaultMaxQueued.
	MaxQueued int
	// NoCoalesce writes each frame with its own Write call instead of
	// coalescing queued frames (the performance switch turned off).
	NoCoalesce bool
	// OnError is called once, from the flushing goroutine, when a write
	// fails; the connection has been closed by then.
	OnError func(error)
}

// Writer queues whole frames for a net.Conn and writes them, coalesced, from
// whichever goroutine finds it idle. It is safe for concurrent use.
type Writer struct {
	nc   net.Conn
	opts WriterOptions

	mu       sync.Mutex
	pending  []byte        // frames queued, not yet taken by the flusher
	bounds   []int         // frame ends within pending (NoCoalesce only)
	spare    []byte        // a drained buffer kept for reuse
	flushing bool          // a goroutine is in flush
	waiters  int           // goroutines waiting for space
	drained  chan struct{} // closed when a flush pass ends, if waiters > 0
	err      error         // sticky: the first write error, or ErrWriterClosed
	written  uint64        // bytes written so far
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
// handed to the goroutine currently flushing. frame is copied; the caller
// keeps it. Write waits while the queue is over its bound, until ctx is
// done.
func (w *Writer) Write(ctx context.Context, frame []byte) error {
	flush, err := w.Queue(ctx, frame)
	if flush {
		return w.Flush()
	}
	return err
}

// Queue appends frame to the queue without writing it. When it returns
// flush == true the caller has become the flusher and must call Flush (after
// releasing any lock of its own that orders frames, so that others can
// queue meanwhile).
func (w *Writer) Queue(ctx context.Context, frame []byte) (flush bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && len(w.pending) > 0 && len(w.pending)+len(frame) > w.opts.MaxQueued {
		if err := w.waitSpace(ctx); err != nil {
			return false, err
		}
	}
	if w.err != nil {
		return false, w.err
	}
	if w.pending == nil {
		w.pending, w.spare = w.spare[:0], nil
	}
	w.pending = append(w.pending, frame...)
	if w.opts.NoCoalesce {
		w.bounds = append(w.bounds, len(w.pending))
	}
	if w.flushing {
		return false, nil
	}
	w.flushing = true
	return true, nil
}

// Flush writes the queue until it is empty. Only the goroutine to which
// Queue returned flush == true may call it, once.
func (w *Writer) Flush() error {
	w.mu.Lock()
	return w.flush()
}

// Wait waits until nothing is queued or being written, or ctx is done.
func (w *Writer) Wait(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && (w.flushing || len(w.pending) > 0) {
		if err := w.waitSpace(ctx); err != nil {
			return err
		}
	}
	return nil
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
func (w *Writer) flush() error {
	for {
		buf := w.pending
		if w.opts.NoCoalesce && len(w.bounds) > 0 {
			buf = w.pending[:w.bounds[0]]
		}
		w.mu.Unlock()

		err := w.writeAll(buf)

		w.mu.Lock()
		w.written += uint64(len(buf))
		if w.opts.NoCoalesce && len(w.bounds) > 0 {
			w.shiftFrame(len(buf))
		} else {
			w.recycle(buf)
		}
		if w.drained != nil && w.waiters > 0 {
			close(w.drained)
			w.drained = nil
		}
		if err != nil {
			w.failLocked(err)
			w.flushing = false
			w.mu.Unlock()
			w.nc.Close()
			if w.opts.OnError != nil {
				w.opts.OnError(err)
			}
			return err
		}
		if len(w.pending) == 0 {
			w.flushing = false
			w.mu.Unlock()
			return nil
		}
	}
}

func (w *Writer) writeAll(buf []byte) error {
	if w.opts.Timeout > 0 {
		w.nc.SetWriteDeadline(time.Now().Add(w.opts.Timeout))
	}
	_, err := w.nc.Write(buf)
	return err
}

// recycle takes the written buffer back as the spare when it is small enough.
func (w *Writer) recycle(buf []byte) {
	w.pending = nil
	if cap(buf) <= keepSpare {
		w.spare = buf[:0]
	}
}

// shiftFrame drops the first n bytes (one frame) in NoCoalesce mode.
func (w *Writer) shiftFrame(n int) {
	w.pending = w.pending[:copy(w.pending, w.pending[n:])]
	w.bounds = w.bounds[1:]
	for i := range w.bounds {
		w.bounds[i] -= n
	}
	if len(w.pending) == 0 {
		w.recycle(w.pending)
		w.bounds = w.bounds[:0]
	}
}

func (w *Writer) failLocked(err error) {
	if w.err == nil {
		w.err = &writeError{err}
	}
	w.pending, w.spare, w.bounds = nil, nil, nil
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
	return !w.flushing && len(w.pending) == 0
}

// Written returns the number of bytes written to the connection.
func (w *Writer) Written() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// writeError wraps the first error of a writer so that every later Write
// reports it while errors.Is still reaches both it and net.ErrClosed.
type writeError struct{ err error }

func (e *writeError) Error() string { return "binproto: write failed: " + e.err.Error() }

func (e *writeError) Unwrap() []error { return []error{e.err, net.ErrClosed} }
