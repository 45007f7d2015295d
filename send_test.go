package binproto_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// recorder is a raw TCP peer that records every byte a client sends it.
type recorder struct {
	mu  sync.Mutex
	got bytes.Buffer
	nc  chan net.Conn
}

func newRecorder(t testing.TB) (*recorder, string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r := &recorder{nc: make(chan net.Conn, 1)}
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		r.nc <- nc
		buf := make([]byte, 4096)
		for {
			n, err := nc.Read(buf)
			r.mu.Lock()
			r.got.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r, l.Addr().String()
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.got.Bytes()...)
}

// TestDoneContextSendsNothing: Request, Send, SendBatch and SendBatchTyped
// with a context that is already done return its error and put no byte on
// the wire (a Request used to reach the handler, a Send to return nil and
// deliver, so a caller retrying after "context canceled" made duplicates).
func TestDoneContextSendsNothing(t *testing.T) {
	p := quickProto(t, nil)
	rec, addr := newRecorder(t)
	cl := dial(t, p, addr, nil)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, ctx := range []context.Context{done, expired} {
		if _, err := cl.Request(ctx, statusMsg(1, "request")); !errors.Is(err, ctx.Err()) {
			t.Errorf("Request: %v", err)
		}
		var st status
		if _, err := binproto.RequestTyped(ctx, cl, statusMsg(1, "typed"), statusCodec, &st); !errors.Is(err, ctx.Err()) {
			t.Errorf("RequestTyped: %v", err)
		}
		if err := cl.Send(ctx, statusMsg(2, "send")); !errors.Is(err, ctx.Err()) {
			t.Errorf("Send: %v", err)
		}
		if err := cl.Conn().Send(ctx, statusMsg(2, "conn send")); !errors.Is(err, ctx.Err()) {
			t.Errorf("Conn.Send: %v", err)
		}
		if err := cl.SendBatch(ctx, statusMsg(3, "batch")); !errors.Is(err, ctx.Err()) {
			t.Errorf("SendBatch: %v", err)
		}
		if err := binproto.SendBatchTyped(ctx, cl, SensorData, sensorCodec, []sensor{{1, 2, 3, 4}}); !errors.Is(err, ctx.Err()) {
			t.Errorf("SendBatchTyped: %v", err)
		}
	}
	ctx := testCtx(t, 5*time.Second)
	marker, err := p.AppendFrame(nil, statusMsg(9, "marker"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Send(ctx, statusMsg(9, "marker")); err != nil {
		t.Fatal(err)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	waitFor(t, 2*time.Second, "marker", func() bool { return len(rec.bytes()) >= len(marker) })
	if got := rec.bytes(); !bytes.Equal(got, marker) {
		t.Fatalf("the server got %x, want only the marker %x", got, marker)
	}
}

// TestFlushReportsLoss: messages that Send queued (and returned nil for)
// and the connection then lost make Flush fail; a Flush with nothing lost
// returns nil.
func TestFlushReportsLoss(t *testing.T) {
	p := quickProto(t, nil)
	rec, addr := newRecorder(t)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 10*time.Second)
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("Flush of nothing: %v", err)
	}
	server := <-rec.nc
	// The peer stops reading: fill its socket buffers and our queue.
	server.(*net.TCPConn).SetReadBuffer(4096)
	big := binproto.Msg(Benchmark, map[string]any{"data": bytes.Repeat([]byte("x"), 64<<10)})
	sendCtx, stop := context.WithCancel(ctx)
	sent := make(chan int)
	var lastSend atomic.Int64 // when a Send last returned
	lastSend.Store(time.Now().UnixNano())
	go func() {
		n := 0
		for cl.Send(sendCtx, big) == nil {
			n++
			lastSend.Store(time.Now().UnixNano())
		}
		sent <- n
	}()
	// The queue is full when Send blocks: waiting for room that the peer,
	// not reading, never makes (how many messages the socket buffers took
	// first depends on the kernel).
	waitFor(t, 5*time.Second, "a full queue", func() bool {
		return cl.Stats().MessagesOut > 0 && time.Since(time.Unix(0, lastSend.Load())) > 200*time.Millisecond
	})
	server.(*net.TCPConn).SetLinger(0)
	server.Close() // a reset: what was queued is lost
	err := cl.Flush(ctx)
	stop()
	n := <-sent
	if !errors.Is(err, binproto.ErrConnClosed) {
		t.Fatalf("Flush after %d sends and a reset: %v, want ErrConnClosed", n, err)
	}
}

// TestHandlerGivesUpOnClose: a handler that returns its context's error
// because its connection closed (the client went away while handlers run
// concurrently, or the server was closed) is neither a handler error nor
// logged as one.
func TestHandlerGivesUpOnClose(t *testing.T) {
	for _, conc := range []int{0, 4} {
		t.Run(fmt.Sprintf("handlers=%d", conc), func(t *testing.T) {
			p := quickProto(t, nil)
			var logs bytes.Buffer
			var mu sync.Mutex
			srv := &binproto.Server{Protocol: p, MaxConcurrentHandlers: conc,
				Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			started := make(chan struct{})
			srv.HandleFunc(Status, func(ctx context.Context, _ *binproto.Message) (binproto.Outgoing, error) {
				close(started)
				<-ctx.Done()
				return binproto.NoReply, ctx.Err()
			})
			addr, _ := serveTCP(t, srv)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			cl := binproto.NewClient(p, nc, nil)
			defer cl.Close()
			if err := cl.Send(testCtx(t, 5*time.Second), statusMsg(1, "wait")); err != nil {
				t.Fatal(err)
			}
			<-started
			if conc > 1 {
				nc.(*net.TCPConn).SetLinger(0)
				cl.Close() // a reset: the read loop, free, notices
			} else {
				srv.Close() // the read loop runs the handler: only Close ends it
			}
			waitFor(t, 5*time.Second, "the connection closed", func() bool { return srv.Stats().ConnectionsActive == 0 })
			mu.Lock()
			defer mu.Unlock()
			if s := srv.Stats(); s.HandlerErrors != 0 || s.Closes[binproto.CloseHandlerError] != 0 {
				t.Errorf("stats: %+v", s)
			}
			if strings.Contains(logs.String(), "handler error") || strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("logged:\n%s", logs.String())
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
