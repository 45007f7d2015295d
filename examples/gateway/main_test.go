package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

const testToken = "device-token-0123456789"

// TestGateway runs the README's gateway story on loopback: 200 devices
// send a reading every 10 ms and a log line every tenth reading while the
// gateway broadcasts its configuration every 50 ms. Every reading written
// is counted, every log line acknowledged, every device gets the
// configuration pushes and no push is taken for an ack. Then, under the
// same load, the gateway shuts down as on SIGINT: Shutdown returns nil,
// every log line the gateway acknowledged reached its device, and every
// device sees the gateway go.
func TestGateway(t *testing.T) {
	p, err := Protocol()
	if err != nil {
		t.Fatal(err)
	}
	g := NewGateway(p, testToken, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	sigint, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- g.Serve(sigint, l, 50*time.Millisecond, 10*time.Second) }()

	// Phase 1: a bounded run, then exact counts.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	rep, err := Devices(ctx, p, addr, testToken, 200, 10*time.Millisecond)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("phase 1: %+v", rep)
	deadline := time.Now().Add(10 * time.Second)
	for g.Readings.Load() != rep.Readings && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g.Readings.Load() != rep.Readings || g.Logs.Load() != rep.Logs || rep.Closed != 0 {
		t.Fatalf("gateway counted %d readings and %d logs; devices sent %d and got %d acks (%d saw it close)",
			g.Readings.Load(), g.Logs.Load(), rep.Readings, rep.Logs, rep.Closed)
	}
	if rep.Readings < 200*20 || rep.Logs == 0 || rep.Configs < 200 {
		t.Fatalf("too little happened: %+v", rep)
	}

	// Phase 2: SIGINT under load.
	logs0 := g.Logs.Load()
	type result struct {
		rep DeviceReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := Devices(context.Background(), p, addr, testToken, 200, 10*time.Millisecond)
		done <- result{r, err}
	}()
	for g.Logs.Load() < logs0+200 {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("gateway: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("phase 2: %+v", r.rep)
	if got := g.Logs.Load() - logs0; got != r.rep.Logs {
		t.Errorf("the gateway acknowledged %d log lines, the devices received %d acks", got, r.rep.Logs)
	}
	if r.rep.Closed != 200 {
		t.Errorf("%d of 200 devices saw the gateway go", r.rep.Closed)
	}
}
