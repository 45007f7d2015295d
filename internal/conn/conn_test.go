package conn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// record is a test frame: writer id, sequence number, then filler bytes so
// that records have random lengths (some spanning several chunks).
func record(id, seq uint32, n int) []byte {
	b := make([]byte, 12, 12+n)
	binary.BigEndian.PutUint32(b, uint32(8+n))
	binary.BigEndian.PutUint32(b[4:], id)
	binary.BigEndian.PutUint32(b[8:], seq)
	for i := range n {
		b = append(b, byte(id+seq+uint32(i)))
	}
	return b
}

// TestWriterConcurrent writes records from many goroutines with Write,
// Send and SendFunc and checks that every record arrives whole and that
// each goroutine's records keep their order.
func TestWriterConcurrent(t *testing.T) {
	for _, noCoalesce := range []bool{false, true} {
		t.Run(map[bool]string{false: "coalesce", true: "nocoalesce"}[noCoalesce], func(t *testing.T) {
			client, server := tcpPair(t)
			w := NewWriter(client, WriterOptions{Timeout: 5 * time.Second, MaxQueued: 256 << 10, NoCoalesce: noCoalesce})
			const writers, each = 12, 300
			var wg sync.WaitGroup
			var total atomic.Int64
			for id := range uint32(writers) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					for seq := range uint32(each) {
						n := rand.IntN(300)
						if seq%16 == 0 {
							n = rand.IntN(3 * chunkSize / 2) // spans chunks
						}
						r := record(id, seq, n)
						total.Add(int64(len(r)))
						var err error
						switch id % 3 {
						case 0:
							err = w.Write(ctx, r)
						case 1:
							err = w.Send(ctx, r)
						default:
							_, err = w.SendFunc(ctx, func(dst []byte) ([]byte, error) { return append(dst, r...), nil })
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			// A hang guard only: the reads end long before, at the latest
			// at EOF once the client end is closed below.
			server.SetReadDeadline(time.Now().Add(30 * time.Second))
			got := make(chan error, 1)
			go func() { got <- readRecords(server, writers, each) }()
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := w.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			// Everything was written: close the client end, so that a
			// dropped frame makes the reader fail at EOF instead of
			// waiting forever for it.
			client.Close()
			if err := <-got; err != nil {
				t.Fatalf("reading the records: %v", err)
			}
			if n, err := server.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("after the last record: %d bytes, %v; want io.EOF", n, err)
			}
			if w.Written() != uint64(total.Load()) || !w.Idle() {
				t.Errorf("Written %d, want %d; idle %v", w.Written(), total.Load(), w.Idle())
			}
		})
	}
}

func readRecords(r io.Reader, writers, each int) error {
	next := make([]uint32, writers)
	hdr := make([]byte, 12)
	for n := 0; n < writers*each; n++ {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return err
		}
		size := int(binary.BigEndian.Uint32(hdr)) - 8
		id, seq := binary.BigEndian.Uint32(hdr[4:]), binary.BigEndian.Uint32(hdr[8:])
		if int(id) >= writers || seq != next[id] {
			return errors.New("record out of order or corrupt")
		}
		next[id]++
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		if !bytes.Equal(body, record(id, seq, size)[12:]) {
			return errors.New("record body corrupt")
		}
	}
	return nil
}

// writeCounter counts Write calls and the bytes of each.
type writeCounter struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
}

func (c *writeCounter) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(b))
	c.mu.Unlock()
	return len(b), nil
}

func TestWriterNoCoalesceOneWritePerFrame(t *testing.T) {
	wc := &writeCounter{}
	w := NewWriter(wc, WriterOptions{NoCoalesce: true})
	flush, err := w.Queue(context.Background(), []byte("one"))
	if err != nil || !flush {
		t.Fatal(flush, err)
	}
	w.Queue(context.Background(), []byte("two!"))
	w.SendFunc(context.Background(), func(dst []byte) ([]byte, error) { return append(dst, "three"...), nil })
	w.Flush()
	w.Wait(context.Background())
	if want := []int{3, 4, 5}; !equalInts(wc.sizes, want) {
		t.Errorf("writes %v, want %v", wc.sizes, want)
	}
}

func TestWriterIdleWriteIsDirect(t *testing.T) {
	wc := &writeCounter{}
	w := NewWriter(wc, WriterOptions{})
	big := make([]byte, 5*chunkSize+7)
	if err := w.Write(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	if want := []int{len(big)}; !equalInts(wc.sizes, want) {
		t.Errorf("writes %v, want one of %d bytes", wc.sizes, len(big))
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWriterBoundAndTimeout: a peer that does not read fills the queue;
// callers then wait until their context ends, and the write timeout fails
// the writer, closes the connection and calls OnError once.
func TestWriterBoundAndTimeout(t *testing.T) {
	client, _ := tcpPair(t)
	var onErr atomic.Int32
	w := NewWriter(client, WriterOptions{Timeout: 300 * time.Millisecond, MaxQueued: 64 << 10, OnError: func(error) { onErr.Add(1) }})
	frame := make([]byte, 32<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	for err == nil {
		err = w.Send(ctx, frame)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send on a full queue: %v, want DeadlineExceeded", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for onErr.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := onErr.Load(); n != 1 {
		t.Fatalf("OnError called %d times, want 1", n)
	}
	err = w.Write(context.Background(), frame)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after the timeout: %v, want the timeout and net.ErrClosed", err)
	}
	w.Close()
	if err := w.Write(context.Background(), frame); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestWriterEncodeError(t *testing.T) {
	wc := &writeCounter{}
	w := NewWriter(wc, WriterOptions{})
	boom := errors.New("boom")
	if n, err := w.SendFunc(context.Background(), func(dst []byte) ([]byte, error) { return dst, boom }); n != 0 || err != boom {
		t.Fatalf("SendFunc: %d, %v", n, err)
	}
	if !w.Idle() || w.Written() != 0 {
		t.Error("a failed encode queued something")
	}
}

// chunkedReader returns at most max bytes per Read, then err.
type chunkedReader struct {
	data []byte
	max  int
	err  error
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p[:min(len(p), r.max)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestBurstReader(t *testing.T) {
	src := make([]byte, 1<<20)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for _, max := range []int{1, 100, 4096, burstSize, 1 << 20} {
		end := errors.New("end")
		br := NewBurstReader(&chunkedReader{data: src, max: max, err: end})
		var got []byte
		p := make([]byte, 4096)
		var err error
		for err == nil {
			var n int
			n, err = br.Read(p[:rand.IntN(len(p))+1])
			got = append(got, p[:n]...)
		}
		if err != end || !bytes.Equal(got, src) {
			t.Fatalf("max %d: read %d bytes, err %v", max, len(got), err)
		}
		if br.buf != nil {
			t.Errorf("max %d: burst buffer still held at the end", max)
		}
	}
}

// TestBurstReaderErrorAfterData: an error that comes with buffered bytes
// is returned after them.
func TestBurstReaderErrorAfterData(t *testing.T) {
	br := NewBurstReader(nil)
	br.burst = true
	br.r = readerFunc(func(p []byte) (int, error) { return copy(p, "abcdef"), io.EOF })
	p := make([]byte, 4)
	if n, err := br.Read(p); n != 4 || err != nil {
		t.Fatalf("first read: %d, %v", n, err)
	}
	if n, err := br.Read(p); n != 2 || err != nil || string(p[:2]) != "ef" {
		t.Fatalf("second read: %d, %v", n, err)
	}
	if n, err := br.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("third read: %d, %v; want EOF", n, err)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
