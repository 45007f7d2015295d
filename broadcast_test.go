package binproto_test

import (
	"context"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// TestBroadcastSlowSubscriber: a subscriber that stops reading fills its
// outbound queue; Broadcast still delivers to the others at once and waits
// (up to its context) only for the slow one.
func TestBroadcastSlowSubscriber(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) {
		c.MaxQueuedBytes = 64 << 10
		c.WriteTimeout = 20 * time.Second
	})
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	ctx := testCtx(t, 20*time.Second)

	// The slow subscriber never reads. It sends one message, so that the
	// server knows its profile at once (a silent client is taken for a
	// compatible one only after NativeOptions.SniffWait, and gets no
	// broadcast before).
	slow := rawDial(t, addr)
	hello, err := p.AppendFrame(nil, statusMsg(1, "subscribe"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Write(hello); err != nil {
		t.Fatal(err)
	}
	arrived := make(chan time.Time, 1024)
	fast := dial(t, p, addr, &binproto.ClientOptions{Handlers: map[binproto.MessageType]binproto.Handler{
		Benchmark: binproto.HandlerFunc(func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
			arrived <- time.Now()
			return binproto.NoReply, nil
		}),
	}})
	if err := checkStatusEcho(ctx, fast, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "both connections served", func() bool {
		st := srv.Stats()
		return st.ConnectionsActive == 2 && st.MessagesIn >= 2
	})

	big := benchData{Data: make([]byte, 60<<10)}
	const patience = 400 * time.Millisecond
	waited := 0
	for i := 0; i < 400 && waited < 3; i++ {
		bctx, cancel := context.WithTimeout(ctx, patience)
		start := time.Now()
		sent, _ := srv.Broadcast(bctx, binproto.Typed(Benchmark, benchCodec, &big))
		end := time.Now()
		took := end.Sub(start)
		cancel()
		if sent < 1 {
			t.Fatalf("broadcast %d reached no one", i)
		}
		var at time.Time
		select {
		case at = <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("broadcast %d never reached the fast subscriber", i)
		}
		if took < patience*3/4 {
			continue // the slow subscriber still had room
		}
		// Broadcast waited for the slow subscriber: the fast one must have
		// had its copy before that wait ended, not after it.
		waited++
		if at.After(end) {
			t.Errorf("broadcast %d reached the fast subscriber %v after Broadcast returned: behind the slow one's wait of %v", i, at.Sub(end), took)
		}
	}
	if waited == 0 {
		t.Fatal("the slow subscriber never filled its queue")
	}
}
