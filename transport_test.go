package binproto_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/wire"
)

// TestEcho round-trips every quick-start type, dynamic and typed, over each
// kind of connection, and checks that the counters balance.
func TestEcho(t *testing.T) {
	p := quickProto(t, nil)
	forEachKind(t, p, registerEcho, func(t *testing.T, e *env) {
		ctx := testCtx(t, 10*time.Second)
		cl := e.client(t, nil)
		requests := 0

		in := sensor{1.5, -2.25, 0.125, 3}
		var out sensor
		typ, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &out)
		requests++
		if err != nil || typ != SensorData || out != in {
			t.Fatalf("sensor echo: type %d, %+v, %v; want %+v", typ, out, err, in)
		}

		m, err := cl.Request(ctx, statusMsg(200, "héllo, 世界"))
		requests++
		if err != nil {
			t.Fatal(err)
		}
		f, err := m.Fields()
		if err != nil || m.Type != Status || f["status_code"] != uint64(200) || f["message"] != "héllo, 世界" {
			t.Fatalf("status echo: type %d, %v, %v", m.Type, f, err)
		}

		// A typed request answered by a dynamic handler.
		var st status
		if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Status, statusCodec, &status{404, "not here"}), statusCodec, &st); err != nil || st != (status{404, "not here"}) {
			t.Fatalf("typed status echo: %+v, %v", st, err)
		}
		requests++

		for _, n := range []int{0, 1, 4095, 100_000} {
			data := bytes.Repeat([]byte{byte(n), 0xA5}, n/2+1)[:n]
			var got benchData
			if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Benchmark, benchCodec, &benchData{data}), benchCodec, &got); err != nil || !bytes.Equal(got.Data, data) {
				t.Fatalf("benchmark echo of %d bytes: got %d bytes, %v", n, len(got.Data), err)
			}
			requests++
		}

		var fb fixedBench
		if _, err := binproto.RequestTyped(ctx, cl, binproto.Msg(FixedBenchmark, map[string]any{"value": uint32(0xDEADBEEF)}), fixedCodec, &fb); err != nil || fb.Value != 0xDEADBEEF {
			t.Fatalf("fixed echo: %+v, %v", fb, err)
		}
		requests++

		cs := cl.Stats()
		if cs.MessagesOut != uint64(requests) || cs.MessagesIn != uint64(requests) {
			t.Errorf("client stats: %d out, %d in; want %d each", cs.MessagesOut, cs.MessagesIn, requests)
		}
		waitFor(t, 2*time.Second, "server stats to balance", func() bool {
			s := e.srv.Stats()
			return s.MessagesIn == uint64(requests) && s.MessagesOut == uint64(requests) &&
				s.BytesIn == cs.BytesOut && s.BytesOut == cs.BytesIn
		})
	})
}

// TestPipelining sends 1000 concurrent requests from 16 goroutines on one
// client; each reply must be the echo of its own request.
func TestPipelining(t *testing.T) {
	p := quickProto(t, nil)
	forEachKind(t, p, registerEcho, func(t *testing.T, e *env) {
		ctx := testCtx(t, 20*time.Second)
		cl := e.client(t, nil)
		const total, workers = 1000, 16
		var wg sync.WaitGroup
		errs := make(chan error, total)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < total; i += workers {
					errs <- checkStatusEcho(ctx, cl, i)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 2*time.Second, "server stats", func() bool {
			s := e.srv.Stats()
			return s.MessagesIn == total && s.MessagesOut == total
		})
	})
}

// checkStatusEcho requests status i (typed for even i, dynamic for odd)
// and checks the reply.
func checkStatusEcho(ctx context.Context, cl *binproto.Client, i int) error {
	msg := "m" + strconv.Itoa(i)
	if i%2 == 0 {
		var st status
		_, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Status, statusCodec, &status{uint32(i), msg}), statusCodec, &st)
		if err != nil || st.Code != uint32(i) || st.Message != msg {
			return fmt.Errorf("request %d: got %+v, %w", i, st, err)
		}
		return nil
	}
	m, err := cl.Request(ctx, statusMsg(i, msg))
	if err != nil {
		return fmt.Errorf("request %d: %w", i, err)
	}
	f, err := m.Fields()
	if err != nil || f["status_code"] != uint64(i) || f["message"] != msg {
		return fmt.Errorf("request %d: got %v, %v", i, f, err)
	}
	return nil
}

// TestConcurrentHandlersInOrder runs up to 8 handlers of one connection at
// once, sleeping at random, and checks on the raw byte stream that replies
// still come back in request order.
func TestConcurrentHandlersInOrder(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, MaxConcurrentHandlers: 8}
	var running, peak atomic.Int32
	srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		f, err := m.Fields()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		return binproto.Msg(Status, f), err
	})
	addr, _ := serveTCP(t, srv)

	const n = 200
	var req []byte
	for i := range n {
		var err error
		if req, err = p.AppendFrame(req, statusMsg(i, "x")); err != nil {
			t.Fatal(err)
		}
	}
	nc := rawDial(t, addr)
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	fr := wire.NewFrameReader(nc, p.Framing(), 0)
	for i := range n {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		got, err := p.Structure(Status).DecodePayload(f.Payload)
		if err != nil || f.Type != uint64(Status) || got["status_code"] != uint64(i) {
			t.Fatalf("reply %d: type %d, %v, %v", i, f.Type, got, err)
		}
	}
	if pk := peak.Load(); pk < 2 || pk > 8 {
		t.Errorf("peak concurrent handlers %d, want 2..8", pk)
	}

	// The same through a pipelining client.
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 400; i += 16 {
				errs <- checkStatusEcho(ctx, cl, i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplyAliasesPayload: a reply may refer to the request's payload (it
// is encoded before the payload buffer is reused), sequential or not.
func TestReplyAliasesPayload(t *testing.T) {
	for _, conc := range []int{0, 8} {
		t.Run(fmt.Sprint("handlers=", conc), func(t *testing.T) {
			checkGoroutines(t)
			p := quickProto(t, nil)
			srv := &binproto.Server{Protocol: p, MaxConcurrentHandlers: conc}
			srv.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
				time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
				return binproto.Msg(Benchmark, map[string]any{"data": m.Payload[4:]}), nil // no copy
			})
			addr, _ := serveTCP(t, srv)
			cl := dial(t, p, addr, nil)
			ctx := testCtx(t, 10*time.Second)
			var wg sync.WaitGroup
			errs := make(chan error, 256)
			for i := range 256 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					data := bytes.Repeat([]byte{byte(i)}, 100+i)
					var got benchData
					_, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Benchmark, benchCodec, &benchData{data}), benchCodec, &got)
					if err == nil && !bytes.Equal(got.Data, data) {
						err = fmt.Errorf("request %d: reply % x", i, got.Data[:min(8, len(got.Data))])
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestGoldenVectorsEcho writes the bytes of golden encode vectors on a raw
// TCP connection to an echo server configured as each vector says, and
// expects exactly the same bytes back, three times pipelined.
func TestGoldenVectorsEcho(t *testing.T) {
	ids := []string{
		"var_status_>H_hello_nock", "var_status_>H_hello_crc32_be4", "var_status_>H_x1024_nock",
		"var_status_>B_unicode_nock", "var_status_>I_x100_crc32_be4",
		"fixed_sensor_>H_1234_nock", "fixed_sensor_>H_1_crc32_be4", "fixed_sensor_<I_1020304_crc32_be4",
		"fixed_sensor_>Q_5_crc32_be4", "multi_var_fields_crc", "fixedstr8_abc_crc32_be4", "empty_>H_crc32_be4",
	}
	vectors := loadVectors(t)
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			checkGoroutines(t)
			v, ok := vectors[id]
			if !ok {
				t.Fatalf("no vector %q", id)
			}
			p := v.protocol(t)
			srv := &binproto.Server{Protocol: p}
			srv.HandleDefault(binproto.HandlerFunc(func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
				f, err := m.Fields()
				return binproto.Msg(m.Type, f), err
			}))
			addr, _ := serveTCP(t, srv)
			nc := rawDial(t, addr)
			want := bytes.Repeat(v.raw, 3)
			if _, err := nc.Write(want); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(want))
			if _, err := io.ReadFull(nc, got); err != nil {
				t.Fatalf("reading the echo: %v (got %x)", err, got)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("echo differs:\n got %x\nwant %x", got, want)
			}
			if s := srv.Stats(); s.MessagesIn != 3 || s.BytesIn != uint64(len(want)) {
				t.Errorf("server counted %d messages, %d bytes; want 3, %d", s.MessagesIn, s.BytesIn, len(want))
			}
		})
	}
}

// TestServerPush: a handler pushes three messages before its reply; the
// client's push handler sees all three before Request returns, and a
// message of a type without a push handler, pushed when no request is
// pending, reaches Receive.
func TestServerPush(t *testing.T) {
	p := quickProto(t, nil)
	setup := func(srv *binproto.Server) {
		srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			for i := range 3 {
				s := sensor{S1: float32(i)}
				if err := m.Conn.Send(ctx, binproto.Typed(SensorData, sensorCodec, &s)); err != nil {
					return binproto.NoReply, err
				}
			}
			return binproto.Msg(Status, map[string]any{"status_code": 1, "message": "done"}), nil
		})
		binproto.HandleTyped(srv, FixedBenchmark, fixedCodec, func(ctx context.Context, c *binproto.Conn, v *fixedBench) (binproto.Outgoing, error) {
			return binproto.NoReply, c.Send(ctx, binproto.Msg(Benchmark, map[string]any{"data": []byte(strconv.Itoa(int(v.Value)))}))
		})
	}
	forEachKind(t, p, setup, func(t *testing.T, e *env) {
		ctx := testCtx(t, 10*time.Second)
		var mu sync.Mutex
		var pushed []float32
		cl := e.client(t, &binproto.ClientOptions{Handlers: map[binproto.MessageType]binproto.Handler{
			SensorData: binproto.NewTypedHandler(sensorCodec, func(_ context.Context, _ *binproto.Conn, s *sensor) (binproto.Outgoing, error) {
				mu.Lock()
				pushed = append(pushed, s.S1)
				mu.Unlock()
				return binproto.NoReply, nil
			}),
		}})
		for round := range 2 {
			var st status
			if _, err := binproto.RequestTyped(ctx, cl, statusMsg(0, "push"), statusCodec, &st); err != nil || st.Message != "done" {
				t.Fatalf("request: %+v, %v", st, err)
			}
			mu.Lock()
			got := fmt.Sprint(pushed)
			mu.Unlock()
			if want := fmt.Sprint([]float32{0, 1, 2, 0, 1, 2}[:3*(round+1)]); got != want {
				t.Fatalf("pushed %s before the reply, want %s", got, want)
			}
		}
		if err := cl.Send(ctx, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{42})); err != nil {
			t.Fatal(err)
		}
		m, err := cl.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var bd benchData
		if err := binproto.Decode(m, benchCodec, &bd); err != nil || m.Type != Benchmark || string(bd.Data) != "42" {
			t.Fatalf("received type %d %q, %v", m.Type, bd.Data, err)
		}
	})
}

// TestBroadcast sends one message to three connected clients.
func TestBroadcast(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	ctx := testCtx(t, 10*time.Second)
	var clients []*binproto.Client
	for i := range 3 {
		cl := dial(t, p, addr, nil)
		if err := checkStatusEcho(ctx, cl, i); err != nil { // the server has registered it
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	sent, err := srv.Broadcast(ctx, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{7}))
	if sent != 3 || err != nil {
		t.Fatalf("Broadcast: sent %d, %v; want 3, nil", sent, err)
	}
	for i, cl := range clients {
		m, err := cl.Receive(ctx)
		var v fixedBench
		if err == nil {
			err = binproto.Decode(m, fixedCodec, &v)
		}
		if err != nil || m.Type != FixedBenchmark || v.Value != 7 {
			t.Fatalf("client %d received %v, %+v", i, err, v)
		}
	}
	if _, err := srv.Broadcast(ctx, binproto.Msg(Status, map[string]any{"status_code": -1, "message": ""})); !errors.Is(err, binproto.ErrRange) {
		t.Errorf("Broadcast of an unencodable message: %v, want ErrRange", err)
	}
	// A reply is counted once written, possibly after the client has it.
	waitFor(t, 2*time.Second, "3 replies + 3 broadcast counted", func() bool { return srv.Stats().MessagesOut == 6 })
}

// countingConn counts Write calls.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TestSendBatch sends 10k one-way sensor messages with SendBatch and
// SendBatchTyped; each batch must be one Write and every message counted.
func TestSendBatch(t *testing.T) {
	const n = 10_000
	batches := map[string]func(ctx context.Context, cl *binproto.Client) error{
		"SendBatch": func(ctx context.Context, cl *binproto.Client) error {
			outs := make([]binproto.Outgoing, n)
			for i := range outs {
				outs[i] = binproto.Msg(SensorData, map[string]any{"sensor1": float32(i), "sensor2": 0, "sensor3": 0, "sensor4": 0})
			}
			return cl.SendBatch(ctx, outs...)
		},
		"SendBatchTyped": func(ctx context.Context, cl *binproto.Client) error {
			vs := make([]sensor, n)
			for i := range vs {
				vs[i].S1 = float32(i)
			}
			return binproto.SendBatchTyped(ctx, cl, SensorData, sensorCodec, vs)
		},
	}
	for name, send := range batches {
		t.Run(name, func(t *testing.T) {
			checkGoroutines(t)
			p := quickProto(t, nil)
			srv := &binproto.Server{Protocol: p}
			var count, sum atomic.Int64
			binproto.HandleTyped(srv, SensorData, sensorCodec, func(_ context.Context, _ *binproto.Conn, s *sensor) (binproto.Outgoing, error) {
				count.Add(1)
				sum.Add(int64(s.S1))
				return binproto.NoReply, nil
			})
			addr, _ := serveTCP(t, srv)
			cc := &countingConn{Conn: rawDial(t, addr)}
			cl := binproto.NewClient(p, cc, nil)
			t.Cleanup(func() { cl.Close() })
			ctx := testCtx(t, 10*time.Second)
			if err := send(ctx, cl); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "10k messages", func() bool { return count.Load() == n })
			if w := cc.writes.Load(); w != 1 {
				t.Errorf("batch took %d writes, want 1", w)
			}
			if got, want := sum.Load(), int64(n*(n-1)/2); got != want {
				t.Errorf("sum of sensor1 %d, want %d", got, want)
			}
			s := srv.Stats()
			if s.MessagesIn != n || s.BytesIn != n*18 || s.MessagesOut != 0 {
				t.Errorf("server stats: %d in (%d bytes), %d out; want %d in (%d bytes), 0 out", s.MessagesIn, s.BytesIn, s.MessagesOut, n, n*18)
			}
			if cs := cl.Stats(); cs.MessagesOut != n {
				t.Errorf("client counted %d messages out, want %d", cs.MessagesOut, n)
			}
		})
	}
}

// TestSingle covers SendSingle and RequestSingle.
func TestSingle(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	got := make(chan uint32, 1)
	binproto.HandleTyped(srv, FixedBenchmark, fixedCodec, func(_ context.Context, _ *binproto.Conn, v *fixedBench) (binproto.Outgoing, error) {
		got <- v.Value
		return binproto.NoReply, nil
	})
	addr, _ := serveTCP(t, srv)
	ctx := testCtx(t, 10*time.Second)
	if err := binproto.SendSingle(ctx, p, addr, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{99}), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != 99 {
			t.Errorf("server got %d, want 99", v)
		}
	case <-ctx.Done():
		t.Fatal("SendSingle's message never arrived")
	}
	m, err := binproto.RequestSingle(ctx, p, addr, statusMsg(5, "once"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := m.Fields(); err != nil || f["status_code"] != uint64(5) || f["message"] != "once" {
		t.Fatalf("RequestSingle: %v, %v", f, err)
	}
	if _, err := binproto.RequestSingle(ctx, p, "127.0.0.1:1", statusMsg(5, "x"), nil); err == nil {
		t.Error("RequestSingle to a closed port succeeded")
	}
	waitFor(t, 2*time.Second, "both connections to close", func() bool { return srv.Stats().ConnectionsActive == 0 })
}

// TestNotFound covers configured types without a handler, unknown types and
// HandleDefault.
func TestNotFound(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		return binproto.Msg(Status, f), err
	})
	addr, _ := serveTCP(t, srv)
	ctx := testCtx(t, 10*time.Second)

	t.Run("no handler", func(t *testing.T) {
		cl := dial(t, p, addr, nil)
		var out sensor
		_, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &sensor{}), sensorCodec, &out)
		var nf *binproto.NotFoundError
		if !errors.As(err, &nf) || nf.Type != SensorData || !errors.Is(err, binproto.ErrNotFound) {
			t.Fatalf("got %v, want a *NotFoundError for type %d", err, SensorData)
		}
		if _, err := cl.Request(ctx, binproto.Msg(Benchmark, map[string]any{"data": []byte("x")})); !errors.Is(err, binproto.ErrNotFound) {
			t.Fatalf("dynamic request: %v, want ErrNotFound", err)
		}
		if err := checkStatusEcho(ctx, cl, 3); err != nil {
			t.Fatalf("connection unusable after NOT_FOUND: %v", err)
		}
		if s := srv.Stats(); s.NotFound != 2 {
			t.Errorf("NotFound = %d, want 2", s.NotFound)
		}
	})

	t.Run("unknown type", func(t *testing.T) {
		nc := rawDial(t, addr)
		req, err := p.AppendFrame(nil, statusMsg(9, "before"))
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), req...)             // the echo
		req = append(req, 0x00, 0x63, 1, 2, 3, 4, 5, 6) // type 99 is not configured
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
		want = append(want, 0xFF, 0xFF)
		if got := readUntilEOF(t, nc, 3*time.Second); !bytes.Equal(got, want) {
			t.Fatalf("got %x, want the echo then NOT_FOUND: %x", got, want)
		}
		waitFor(t, 2*time.Second, "unknown_type close", func() bool { return closeCount(srv, binproto.CloseUnknownType) == 1 })
	})

	t.Run("HandleDefault", func(t *testing.T) {
		srv.HandleDefault(binproto.HandlerFunc(func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			return binproto.Msg(Status, map[string]any{"status_code": 1000 + int(m.Type), "message": "default"}), nil
		}))
		defer srv.HandleDefault(binproto.NotFoundHandler)
		// The client declares that the default handler's Status answers a
		// FixedBenchmark request.
		pc := quickProto(t, func(c *binproto.Config) {
			c.Replies = map[binproto.MessageType][]binproto.MessageType{FixedBenchmark: {FixedBenchmark, Status}}
		})
		cl := dial(t, pc, addr, nil)
		var st status
		if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{1}), statusCodec, &st); err != nil || st != (status{1004, "default"}) {
			t.Fatalf("default handler: %+v, %v", st, err)
		}
		if err := checkStatusEcho(ctx, cl, 8); err != nil { // explicit handlers still win
			t.Fatal(err)
		}
	})
}

// A datagram connection sends one frame per datagram even when the
// Protocol is not configured for UDP.
func TestNoCoalesceOnDatagramConn(t *testing.T) {
	p := quickProto(t, nil) // TCP transport
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	nc, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := binproto.NewClient(p, nc, nil)
	defer cl.Close()
	ctx := testCtx(t, 5*time.Second)
	const n = 100
	for i := range n {
		if err := cl.Conn().Send(ctx, statusMsg(i, "datagram")); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64<<10)
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i := range n {
		m, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		msg, err := p.ParseFrame(buf[:m])
		if err != nil {
			t.Fatalf("datagram %d (%d bytes) is not one frame: %v", i, m, err)
		}
		if f, err := msg.Fields(); err != nil || f["status_code"] != uint64(i) {
			t.Fatalf("datagram %d: %v, %v", i, f, err)
		}
	}
}
