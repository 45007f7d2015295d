//go:build !race

// The race detector makes sync.Pool drop items at random, so the tests of
// allocations run without it.

package conn

import (
	"context"
	"testing"
)

// Frames of 64 KiB payloads and larger are written without allocating, on
// every path: direct writes, copies into the queue, SendFunc's in-place
// encoding and NoCoalesce mode.
func TestWriterLargeZeroAllocs(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{64<<10 + 10, 1<<20 + 10} {
		frame := make([]byte, size)
		enc := func(dst []byte) ([]byte, error) { return append(dst, frame...), nil }
		tests := []struct {
			name string
			opts WriterOptions
			run  func(w *Writer) error
		}{
			{"Write", WriterOptions{}, func(w *Writer) error { return w.Write(ctx, frame) }},
			{"TryWrite", WriterOptions{}, func(w *Writer) error { _, err := w.TryWrite(frame, nil, false); return err }},
			{"Queue", WriterOptions{}, func(w *Writer) error {
				if flush, err := w.Queue(ctx, frame); err != nil || !flush {
					return err
				}
				return w.Flush()
			}},
			{"SendFunc", WriterOptions{}, func(w *Writer) error {
				flush, _, err := w.queueFunc(ctx, enc)
				if err == nil && flush {
					err = w.Flush()
				}
				return err
			}},
			{"NoCoalesce", WriterOptions{NoCoalesce: true}, func(w *Writer) error { return w.Write(ctx, frame) }},
		}
		for _, tt := range tests {
			sc := &sinkConn{}
			w := NewWriter(sc, tt.opts)
			var bad error
			run := func() {
				if err := tt.run(w); err != nil {
					bad = err
				}
			}
			for range 3 {
				run() // SendFunc learns the size from two frames
			}
			if n := testing.AllocsPerRun(20, run); n != 0 {
				t.Errorf("%s of %d bytes: %v allocations, want 0", tt.name, size, n)
			}
			if bad != nil || sc.bytes != 24*size {
				t.Errorf("%s of %d bytes: %v, %d bytes written", tt.name, size, bad, sc.bytes)
			}
		}
	}
}
