package conn

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// failConn is a connection whose writes fail after ok successful ones.
type failConn struct {
	net.Conn
	mu     sync.Mutex
	ok     int
	closed bool
}

var errBoom = errors.New("boom")

func (c *failConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == 0 {
		return 0, errBoom
	}
	c.ok--
	return len(b), nil
}

func (c *failConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *failConn) SetWriteDeadline(time.Time) error { return nil }

// A failed write's error, as returned then and later, wraps the write's
// error, ErrWriterClosed and net.ErrClosed; ErrWriterClosed itself matches
// net.ErrClosed.
func TestWriterWriteErrorIsClosed(t *testing.T) {
	if !errors.Is(ErrWriterClosed, net.ErrClosed) {
		t.Error("errors.Is(ErrWriterClosed, net.ErrClosed) = false")
	}
	w := NewWriter(&failConn{}, WriterOptions{})
	ctx := context.Background()
	for i, err := range []error{w.Write(ctx, []byte("one")), w.Write(ctx, []byte("two"))} {
		if !errors.Is(err, errBoom) || !errors.Is(err, ErrWriterClosed) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("write %d: %v; want it to wrap the write's error, ErrWriterClosed and net.ErrClosed", i, err)
		}
	}
	// The same through a coalesced flush.
	w = NewWriter(&failConn{}, WriterOptions{})
	flush, err := w.Queue(ctx, []byte("one"))
	if !flush || err != nil {
		t.Fatal(flush, err)
	}
	if err := w.Flush(); !errors.Is(err, errBoom) || !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Flush: %v; want the write's error and ErrWriterClosed", err)
	}
}

// Wait reports a writer that failed with frames unwritten, and does not
// report one closed after everything was written.
func TestWriterWaitReportsFailure(t *testing.T) {
	ctx := context.Background()
	w := NewWriter(&failConn{}, WriterOptions{})
	if err := w.Send(ctx, []byte("lost")); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(ctx); !errors.Is(err, errBoom) {
		t.Errorf("Wait after a failed write: %v, want the write's error", err)
	}

	w = NewWriter(&failConn{ok: 1}, WriterOptions{})
	if err := w.Send(ctx, []byte("written")); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	w.Close()
	if err := w.Wait(ctx); err != nil {
		t.Errorf("Wait after everything was written and the writer closed: %v", err)
	}
}

// WaitRoom waits while the queue is over its bound; TryQueue queues nothing
// (and does not run admit) then, and runs admit before queueing otherwise.
func TestWriterWaitRoomTryQueue(t *testing.T) {
	client, server := tcpPair(t)
	w := NewWriter(client, WriterOptions{MaxQueued: 10})
	ctx := context.Background()
	// Become the flusher without flushing, so that the queue stays.
	queued, flush, err := w.TryQueue([]byte("12345678"), nil)
	if !queued || !flush || err != nil {
		t.Fatal(queued, flush, err)
	}
	admitted := 0
	admit := func() error { admitted++; return nil }
	if queued, _, err := w.TryQueue([]byte("abcd"), admit); queued || err != nil || admitted != 0 {
		t.Fatalf("TryQueue over the bound: queued %v, err %v, admit ran %d times", queued, err, admitted)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := w.WaitRoom(short, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom on a full queue: %v", err)
	}
	if err := w.WaitRoom(ctx, 2); err != nil {
		t.Fatalf("WaitRoom with room: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- w.WaitRoom(ctx, 4) }()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitRoom after the flush: %v", err)
	}
	queued, flush, err = w.TryQueue([]byte("abcd"), admit)
	if !queued || !flush || err != nil || admitted != 1 {
		t.Fatalf("TryQueue with room: %v %v %v, admit ran %d times", queued, flush, err, admitted)
	}
	w.Flush()
	errAdmit := errors.New("refused")
	if queued, _, err := w.TryQueue([]byte("x"), func() error { return errAdmit }); queued || err != errAdmit {
		t.Fatalf("TryQueue refused by admit: %v %v", queued, err)
	}
	buf := make([]byte, 12)
	server.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := readFull(server, buf); err != nil || string(buf) != "12345678abcd" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// vecConn records the vectors written to it: writes of several chunks go
// through net.Buffers.WriteTo, which calls Write once per buffer on a
// connection that is not a *net.TCPConn.
type vecConn struct {
	net.Conn
	writes int
}

func (c *vecConn) Write(b []byte) (int, error) { c.writes++; return len(b), nil }

// The vector handed to WriteTo keeps its backing array from one flush to
// the next.
func TestWriterIovReused(t *testing.T) {
	vc := &vecConn{}
	w := NewWriter(vc, WriterOptions{NoPool: true})
	ctx := context.Background()
	frame := make([]byte, chunkSize+chunkSize/2) // two chunks once queued
	pass := func() {
		flush, err := w.Queue(ctx, frame)
		if !flush || err != nil {
			t.Fatal(flush, err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	if cap(w.iovBuf) < 2 {
		t.Fatalf("iovBuf cap %d after a two-chunk flush", cap(w.iovBuf))
	}
	first := &w.iovBuf[:1][0]
	for range 3 {
		pass()
		if &w.iovBuf[:1][0] != first {
			t.Fatal("iovBuf reallocated by a flush")
		}
	}
	for i, c := range w.iovBuf[:cap(w.iovBuf)] {
		if c != nil {
			t.Errorf("iovBuf[%d] still refers to a chunk", i)
		}
	}
	if vc.writes != 8 {
		t.Errorf("%d writes, want 8 (two per flush)", vc.writes)
	}
}
