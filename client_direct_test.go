package binproto_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// A direct-mode client whose caller's context ends while that caller is
// reading (it holds the read token, blocked halfway through its reply)
// returns ctx's error at once and leaves the connection usable: the part
// of the frame read stays buffered, the abandoned reply is dropped when it
// completes, and the next request gets its own reply.
func TestDirectCancelWhileReading(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	a, b := net.Pipe()
	defer b.Close()
	wa := newWatchedConn(a)
	cl := binproto.NewClient(p, wa, nil)
	defer cl.Close()

	req1, _ := p.AppendFrame(nil, statusMsg(1, "first"))
	req2, _ := p.AppendFrame(nil, statusMsg(2, "second"))
	rep1, _ := p.AppendFrame(nil, statusMsg(1, "late reply"))
	rep2, _ := p.AppendFrame(nil, statusMsg(2, "second"))
	half := make(chan struct{})
	srvErr := make(chan error, 1)
	go func() { // a hand-written server, slow in the middle of a reply
		srvErr <- func() error {
			buf := make([]byte, len(req1))
			if _, err := io.ReadFull(b, buf); err != nil {
				return err
			}
			if _, err := b.Write(rep1[:len(rep1)/2]); err != nil {
				return err
			}
			close(half)
			buf = make([]byte, len(req2))
			if _, err := io.ReadFull(b, buf); err != nil {
				return err
			}
			_, err := b.Write(append(rep1[len(rep1)/2:len(rep1):len(rep1)], rep2...))
			return err
		}()
	}()

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { _, err := cl.Request(ctx, statusMsg(1, "first")); res <- err }()
	select {
	case <-half:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not get the first request")
	}
	// The pipe's Write returned once the caller read the half reply; wait
	// until it is blocked reading the rest.
	waitFor(t, 10*time.Second, "the caller to read the rest", func() bool { return wa.readingAfter(len(rep1) / 2) })
	cancel()
	select { // the cancelled request returns without the rest: a hang guard
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled request: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled request did not return")
	}

	m, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(2, "second"))
	if err != nil {
		t.Fatalf("next request: %v", err)
	}
	if f, err := m.Fields(); err != nil || f["message"] != "second" {
		t.Fatalf("next request got %v, %v; want its own reply", f, err)
	}
	if err := <-srvErr; err != nil {
		t.Fatalf("server: %v", err)
	}
	if s := cl.Stats(); s.MessagesIn != 2 || s.Unsolicited != 0 {
		t.Errorf("stats: %+v", s)
	}
}

// The same over TCP against a real server: a request given up while its
// caller reads is abandoned, and its reply, when it comes, is dropped.
func TestDirectCancelSlowServer(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	gate := make(chan struct{})
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if f["message"] == "slow" {
			<-gate
		}
		return binproto.Msg(Status, f), err
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cl.Request(ctx, statusMsg(1, "slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow request: %v, want context.DeadlineExceeded", err)
	}
	close(gate)
	for i := range 3 {
		if err := checkStatusEcho(testCtx(t, 5*time.Second), cl, 2+i); err != nil {
			t.Fatal(err)
		}
	}
}

// When the caller holding the read token gives up, another waiting caller
// takes over reading, and every waiter gets its own reply.
func TestDirectLeaderHandOff(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	gate := make(chan struct{})
	var once sync.Once
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		once.Do(func() { <-gate }) // hold every reply back until the leader gave up
		f, err := m.Fields()
		return binproto.Msg(Status, f), err
	})
	addr, _ := serveTCP(t, srv)
	cl, wc := dialWatched(t, p, addr)

	leaderCtx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() { _, err := cl.Request(leaderCtx, statusMsg(0, "leader")); leader <- err }()
	waitFor(t, 10*time.Second, "the leader's request", func() bool { return cl.Stats().MessagesOut == 1 })
	// The leader took the token: it is blocked reading its reply.
	waitFor(t, 10*time.Second, "the leader to read", func() bool { return wc.readingAfter(0) })

	const waiters, each = 8, 20
	ctx := testCtx(t, 10*time.Second)
	errs := make(chan error, waiters)
	var wg sync.WaitGroup
	for w := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := checkStatusEcho(ctx, cl, 1+w*each+i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, "the waiters' requests", func() bool { return cl.Stats().MessagesOut == 1+waiters })
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want context.Canceled", err)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := cl.Stats(); s.Unsolicited != 0 {
		t.Errorf("unsolicited: %d", s.Unsolicited)
	}
}

// Close while a waiting caller holds the read token, blocked reading:
// Close returns promptly, the request fails with ErrClientClosed, and the
// connection is done.
func TestDirectCloseWhileReading(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	srv.HandleFunc(Status, func(ctx context.Context, _ *binproto.Message) (binproto.Outgoing, error) {
		<-ctx.Done()
		return binproto.NoReply, ctx.Err()
	})
	addr, _ := serveTCP(t, srv)
	cl, wc := dialWatched(t, p, addr)
	res := make(chan error, 3)
	// The requests' deadline is far: they can only fail by the Close.
	for i := range 3 {
		go func() { _, err := cl.Request(testCtx(t, time.Minute), statusMsg(i, "hang")); res <- err }()
	}
	waitFor(t, 10*time.Second, "the requests", func() bool { return cl.Stats().MessagesOut == 3 })
	waitFor(t, 10*time.Second, "a caller to read", func() bool { return wc.readingAfter(0) })
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case err := <-res:
			if !errors.Is(err, binproto.ErrClientClosed) {
				t.Errorf("request: %v, want ErrClientClosed", err)
			}
		case <-time.After(10 * time.Second): // a hang guard
			t.Fatal("a request did not fail after Close")
		}
	}
	select {
	case <-cl.Conn().Done():
	default:
		t.Error("connection not done after Close")
	}
	if s := cl.Stats(); len(s.Closes) != 1 || s.Closes[binproto.CloseLocal] != 1 {
		t.Errorf("stats: %+v", s)
	}
}

// Close of an idle direct-mode client (nobody reading) still finishes the
// connection, once.
func TestDirectCloseIdle(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nil)
	if err := checkStatusEcho(testCtx(t, 5*time.Second), cl, 1); err != nil {
		t.Fatal(err)
	}
	cl.Conn().Close()
	cl.Close()
	cl.Close()
	select {
	case <-cl.Conn().Done():
	default:
		t.Fatal("connection not done after Close")
	}
	if _, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(2, "late")); !errors.Is(err, binproto.ErrClientClosed) {
		t.Errorf("request after Close: %v", err)
	}
	if s := cl.Stats(); len(s.Closes) != 1 || s.Closes[binproto.CloseLocal] != 1 {
		t.Errorf("stats: %+v", s)
	}
}

// A message pushed while a direct-mode client has no request waiting stays
// unread until Receive, which switches the client to a background reader;
// requests go on working.
func TestDirectReceiveSwitchesToBackground(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	binproto.HandleTyped(srv, FixedBenchmark, fixedCodec, func(ctx context.Context, c *binproto.Conn, v *fixedBench) (binproto.Outgoing, error) {
		return binproto.NoReply, c.Send(ctx, statusMsg(int(v.Value), "pushed"))
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	if err := checkStatusEcho(ctx, cl, 1); err != nil {
		t.Fatal(err)
	}
	if err := cl.Send(ctx, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{7})); err != nil {
		t.Fatal(err)
	}
	m, err := cl.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if f, err := m.Fields(); err != nil || f["status_code"] != uint64(7) || f["message"] != "pushed" {
		t.Fatalf("received %v, %v", f, err)
	}
	// Pushed while nobody waits: the background reader queues it.
	if err := cl.Send(ctx, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{8})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the push read in the background", func() bool { return cl.Stats().MessagesIn == 3 })
	for i := range 4 {
		if err := checkStatusEcho(ctx, cl, 10+i); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := cl.Receive(ctx); err != nil || m.Type != binproto.MessageType(Status) {
		t.Fatalf("second Receive: %v, %v", m, err)
	}
	// A server that closes is noticed with no request waiting.
	srv.Close()
	select {
	case <-cl.Conn().Done():
	case <-time.After(2 * time.Second):
		t.Fatal("background reader did not notice the closed connection")
	}
}
