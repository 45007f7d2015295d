package conn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
)

// sinkConn accepts every write, recording the first byte's address and
// checking the content against want when set.
type sinkConn struct {
	net.Conn
	writes int
	bytes  int
	first  *byte // the address of the first byte of the last write
}

func (c *sinkConn) Write(b []byte) (int, error) {
	c.writes++
	c.bytes += len(b)
	if len(b) > 0 {
		c.first = &b[0]
	}
	return len(b), nil
}

// appendFrame is an encoder for SendFunc: a frame of n bytes of fill.
func appendFrame(n int, fill byte) func([]byte) ([]byte, error) {
	return func(dst []byte) ([]byte, error) {
		for range n {
			dst = append(dst, fill)
		}
		return dst, nil
	}
}

// An idle writer writes a TryWrite frame straight from the caller's buffer;
// a busy one queues a copy that the flusher writes.
func TestTryWrite(t *testing.T) {
	sc := &sinkConn{}
	w := NewWriter(sc, WriterOptions{})
	frame := bytes.Repeat([]byte{1}, 64<<10+10)
	admitted := 0
	admit := func() error { admitted++; return nil }
	queued, err := w.TryWrite(frame, admit, false)
	if !queued || err != nil || sc.first != &frame[0] || sc.bytes != len(frame) || admitted != 1 {
		t.Fatalf("idle: queued %v, err %v, direct %v, %d bytes, admitted %d", queued, err, sc.first == &frame[0], sc.bytes, admitted)
	}

	// Busy: another goroutine is flushing (simulated), so the frame is
	// copied into the queue, and written by the flusher.
	w.mu.Lock()
	w.flushing = true
	w.mu.Unlock()
	queued, err = w.TryWrite(frame, admit, false)
	if !queued || err != nil || w.queued != len(frame) || sc.bytes != len(frame) {
		t.Fatalf("busy: queued %v, err %v, %d queued, %d written", queued, err, w.queued, sc.bytes)
	}
	if err := w.Flush(); err != nil || sc.bytes != 2*len(frame) {
		t.Fatalf("flush: %v, %d bytes written", err, sc.bytes)
	}

	// No room: nothing admitted.
	w2 := NewWriter(sc, WriterOptions{MaxQueued: 100})
	w2.mu.Lock()
	w2.flushing = true
	w2.appendLocked(make([]byte, 100))
	w2.mu.Unlock()
	if queued, err := w2.TryWrite(frame, admit, false); queued || err != nil || admitted != 2 {
		t.Fatalf("full: queued %v, err %v, admitted %d", queued, err, admitted)
	}
	// admit's error: nothing queued.
	errAdmit := errors.New("no")
	if queued, err := w.TryWrite(frame, func() error { return errAdmit }, false); queued || err != errAdmit {
		t.Fatalf("admit error: queued %v, err %v", queued, err)
	}
	// A failed writer.
	fc := &failConn{} // fails every write
	w3 := NewWriter(fc, WriterOptions{})
	if queued, err := w3.TryWrite(frame, nil, false); !queued || !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("failing write: queued %v, err %v", queued, err)
	}
	if queued, err := w3.TryWrite(frame, nil, false); queued || !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("after failure: queued %v, err %v", queued, err)
	}
}

// SendFunc encodes a stream of large frames into pooled chunks of their
// size, after the first two, and frames of every size come out intact.
func TestSendFuncLargeFrames(t *testing.T) {
	for _, noCoalesce := range []bool{false, true} {
		sc := &sinkConn{}
		w := NewWriter(sc, WriterOptions{NoCoalesce: noCoalesce})
		ctx := context.Background()
		total := 0
		for i, n := range []int{10, 64<<10 + 10, 64<<10 + 10, 64<<10 + 10, 100, 1 << 20, 1 << 20, 5, 0} {
			flush, m, err := w.queueFunc(ctx, appendFrame(n, byte(i)))
			if err != nil || m != n {
				t.Fatalf("frame %d: %d bytes, %v", i, m, err)
			}
			if i == 3 && !noCoalesce && len(w.chunks) != 1 {
				t.Errorf("third 64 KiB frame in %d chunks, want 1 (encoded in place)", len(w.chunks))
			}
			total += n
			if flush {
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if sc.bytes != total {
			t.Errorf("NoCoalesce %v: %d bytes written, want %d", noCoalesce, sc.bytes, total)
		}
	}
}

// BenchmarkWriterLarge writes frames of 64 KiB and 1 MiB payloads through a
// writer to a connection that discards them: Write on an idle writer
// (direct), Queue+Flush (a busy writer's copy), SendFunc's in-place
// encoding, TryWrite, and NoCoalesce mode.
func BenchmarkWriterLarge(b *testing.B) {
	for _, size := range []int{64<<10 + 10, 1<<20 + 10} {
		frame := make([]byte, size)
		ctx := context.Background()
		modes := []struct {
			name string
			opts WriterOptions
			run  func(w *Writer) error
		}{
			{"Write", WriterOptions{}, func(w *Writer) error { return w.Write(ctx, frame) }},
			{"TryWrite", WriterOptions{}, func(w *Writer) error { _, err := w.TryWrite(frame, nil, false); return err }},
			{"Queue", WriterOptions{}, func(w *Writer) error {
				if flush, err := w.Queue(ctx, frame); !flush || err != nil {
					return fmt.Errorf("flush %v, %v", flush, err)
				}
				return w.Flush()
			}},
			{"SendFunc", WriterOptions{}, func(w *Writer) error {
				// The encoder appends the frame with one copy, as
				// AppendFrame appends a payload.
				flush, _, err := w.queueFunc(ctx, func(dst []byte) ([]byte, error) { return append(dst, frame...), nil })
				if err == nil && flush {
					err = w.Flush()
				}
				return err
			}},
			{"NoCoalesce", WriterOptions{NoCoalesce: true}, func(w *Writer) error { return w.Write(ctx, frame) }},
		}
		for _, m := range modes {
			b.Run(fmt.Sprintf("%s/%d", m.name, size), func(b *testing.B) {
				w := NewWriter(&sinkConn{}, m.opts)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for range b.N {
					if err := m.run(w); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
