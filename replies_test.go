package binproto_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
)

// The types of the gateway of the reply-matching tests, beside the quick
// start's: a log answered by an ack, and a config the server broadcasts.
const (
	LogMsg binproto.MessageType = 5
	Ack    binproto.MessageType = 6
	Conf   binproto.MessageType = 7
)

// gatewayProto is the quick start plus LogMsg, Ack and Conf; declare says
// whether Replies and Pushes are declared.
func gatewayProto(t testing.TB, declare bool) *binproto.Protocol {
	return quickProto(t, func(c *binproto.Config) {
		c.Types[LogMsg] = schema.MustStructure(schema.Str("line"))
		c.Types[Ack] = schema.MustStructure(schema.Uint32("n"))
		c.Types[Conf] = schema.MustStructure(schema.Uint32("version"))
		if declare {
			c.Replies = map[binproto.MessageType][]binproto.MessageType{LogMsg: {Ack}}
			c.Pushes = []binproto.MessageType{Conf}
		}
	})
}

// gatewayServer echoes the quick-start types, acks logs and drops the
// status "drop" (NoReply).
func gatewayServer(t testing.TB, p *binproto.Protocol) (*binproto.Server, string) {
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err == nil && f["message"] == "drop" {
			return binproto.NoReply, nil
		}
		return binproto.Msg(Status, f), err
	})
	srv.HandleFunc(LogMsg, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return binproto.Msg(Ack, map[string]any{"n": len(m.Payload)}), nil
	})
	addr, _ := serveTCP(t, srv)
	return srv, addr
}

// broadcastConf broadcasts n configs, waiting until each has been queued on
// want connections.
func broadcastConf(t testing.TB, ctx context.Context, srv *binproto.Server, n, want int) {
	t.Helper()
	for v := range n {
		sent, err := srv.Broadcast(ctx, binproto.Msg(Conf, map[string]any{"version": 100 + v}))
		if err != nil || sent != want {
			t.Fatalf("Broadcast: %d, %v", sent, err)
		}
	}
}

// TestPushNotTakenAsReply: a client with no handler for a broadcast type
// sits idle while the server broadcasts, then makes requests, sequential and
// pipelined: each request gets its own reply and every push reaches
// Receive, whether the protocol declares Pushes or relies on the default
// (a reply has its request's type). It used to give the pushes to the next
// requests and every later reply to the request after its own, silently.
func TestPushNotTakenAsReply(t *testing.T) {
	for _, declare := range []bool{true, false} {
		t.Run(fmt.Sprintf("declared=%v", declare), func(t *testing.T) {
			p := gatewayProto(t, declare)
			srv, addr := gatewayServer(t, p)
			ctx := testCtx(t, 10*time.Second)
			cl := dial(t, p, addr, nil)
			if err := checkStatusEcho(ctx, cl, 99); err != nil { // the server serves the connection
				t.Fatal(err)
			}
			broadcastConf(t, ctx, srv, 3, 1)
			for i := range 5 {
				if err := checkStatusEcho(ctx, cl, i); err != nil {
					t.Fatal(err)
				}
			}
			// Pipelined requests while the server keeps broadcasting.
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- checkStatusEcho(ctx, cl, 100+i)
				}()
			}
			broadcastConf(t, ctx, srv, 7, 1)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			for v := range 10 {
				m, err := cl.Receive(ctx)
				if err != nil {
					t.Fatalf("Receive %d: %v", v, err)
				}
				f, err := m.Fields()
				want := uint64(100 + v)
				if v >= 3 {
					want = uint64(100 + v - 3)
				}
				if m.Type != Conf || err != nil || f["version"] != want {
					t.Fatalf("push %d: type %d, %v, %v", v, m.Type, f, err)
				}
			}
		})
	}
}

// TestRepliesDeclared: a log is answered by an ack, as Config.Replies
// declares, also when logs and echoes are pipelined on one client.
func TestRepliesDeclared(t *testing.T) {
	p := gatewayProto(t, true)
	_, addr := gatewayServer(t, p)
	ctx := testCtx(t, 10*time.Second)
	cl := dial(t, p, addr, nil)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				if err := checkStatusEcho(ctx, cl, i); err != nil {
					t.Error(err)
				}
				return
			}
			line := fmt.Sprintf("log line %d", i)
			m, err := cl.Request(ctx, binproto.Msg(LogMsg, map[string]any{"line": line}))
			if err != nil || m.Type != Ack {
				t.Errorf("log %d: %v, %v", i, m, err)
				return
			}
			if f, _ := m.Fields(); f["n"] != uint64(4+len(line)) {
				t.Errorf("log %d: ack %v", i, f)
			}
		}()
	}
	wg.Wait()
}

// TestUnexpectedReply: a request the server does not answer (its handler
// returns NoReply), pipelined before another, fails alone with an
// *UnexpectedReplyError naming both types when the next request's reply
// comes; that reply goes to its own request and later requests are in step.
// Undeclared, an ack to a log is such a reply too. Both used to shift every
// later reply by one.
func TestUnexpectedReply(t *testing.T) {
	p := gatewayProto(t, false)
	_, addr := gatewayServer(t, p)
	ctx := testCtx(t, 10*time.Second)
	cl := dial(t, p, addr, nil)

	dropped := make(chan error, 1)
	go func() {
		_, err := cl.Request(ctx, statusMsg(1, "drop"))
		dropped <- err
	}()
	waitFor(t, 2*time.Second, "first request sent", func() bool { return cl.Stats().MessagesOut == 1 })
	in := sensor{1, 2, 3, 4}
	var out sensor
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &out); err != nil || out != in {
		t.Fatalf("sensor request: %+v, %v", out, err)
	}
	var ue *binproto.UnexpectedReplyError
	if err := <-dropped; !errors.As(err, &ue) || ue.Request != Status || ue.Reply != SensorData {
		t.Fatalf("unanswered request: %v, want an UnexpectedReplyError naming types 2 and 1", err)
	}
	for i := range 3 {
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatal(err)
		}
	}

	// Undeclared, a log's ack is no reply to it: the request waits until
	// its context ends and the ack reaches Receive; nothing shifts.
	lctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := cl.Request(lctx, binproto.Msg(LogMsg, map[string]any{"line": "x"})); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("undeclared log request: %v", err)
	}
	if m, err := cl.Receive(ctx); err != nil || m.Type != Ack {
		t.Fatalf("Receive: %v, %v", m, err)
	}
	if err := checkStatusEcho(ctx, cl, 7); err != nil {
		t.Fatal(err)
	}
}

// TestRepliesConfig: Replies and Pushes name configured types, and no type
// is both a push and a reply.
func TestRepliesConfig(t *testing.T) {
	for name, mod := range map[string]func(*binproto.Config){
		"unknown request": func(c *binproto.Config) {
			c.Replies = map[binproto.MessageType][]binproto.MessageType{42: {Status}}
		},
		"unknown reply": func(c *binproto.Config) {
			c.Replies = map[binproto.MessageType][]binproto.MessageType{Status: {42}}
		},
		"unknown push": func(c *binproto.Config) { c.Pushes = []binproto.MessageType{42} },
		"push and reply": func(c *binproto.Config) {
			c.Replies = map[binproto.MessageType][]binproto.MessageType{Status: {SensorData}}
			c.Pushes = []binproto.MessageType{SensorData}
		},
	} {
		cfg := binproto.Config{Types: quickTypes()}
		mod(&cfg)
		var ce *binproto.ConfigError
		if _, err := binproto.NewProtocol(cfg); !errors.As(err, &ce) || (ce.Option != "Replies" && ce.Option != "Pushes") {
			t.Errorf("%s: %v, want a *ConfigError on Replies or Pushes", name, err)
		}
	}
}
