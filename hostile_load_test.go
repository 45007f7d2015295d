package binproto_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// TestHostileLoad runs many clients making requests with random payloads
// (500 × 200 normally; 200 × 100 under the race detector, where the full
// run takes about 18 s on 2 cores; 100 × 50 with -short),
// at most 50 clients at once, while a bystander keeps going. Every reply
// must match its request, and the server's counters must balance:
//
//	accepted = replied + failed + lost with their connection
//
// where accepted is Stats.MessagesIn, replied is Stats.MessagesOut,
// failed is Stats.HandlerErrors + Stats.HandlerPanics (plus refusals that
// send nothing: none here, since OnInvalid replies), and lost is what
// remains: requests read whose connection died before the reply was
// written. Every client here closes after its last reply, so lost must be
// 0. Of the accepted requests, Stats.Invalid were refused by the validator
// (answered with status 400) and the rest reached a handler.
func TestHostileLoad(t *testing.T) {
	clients, requests := 500, 200
	switch {
	case testing.Short():
		clients, requests = 100, 50
	case raceEnabled:
		clients, requests = 200, 100
	}
	const concurrency = 50
	var handled atomic.Uint64
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.Validate(Status, func(m *binproto.Message) error {
			if f, err := m.Fields(); err != nil || f["status_code"] == uint64(invalidCode) {
				return errors.New("this status code is refused")
			}
			return nil
		})
		s.OnInvalid = binproto.Refusal{Action: binproto.ActionReply, Reply: func(*binproto.Message, error) binproto.Outgoing {
			return statusMsg(400, "refused")
		}}
		s.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			handled.Add(1)
			f, err := m.Fields()
			return binproto.Msg(Benchmark, f), err
		})
		s.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			handled.Add(1)
			f, err := m.Fields()
			return binproto.Msg(Status, f), err
		})
	})
	b := startBystander(t, g.p, g.addr, nil)
	handled.Store(0) // the bystander's first request
	start := time.Now()
	var invalidSent atomic.Uint64
	sem := make(chan struct{}, concurrency)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- loadClient(g.p, g.addr, c, requests, &invalidSent)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.stop(t)
	waitFor(t, 3*time.Second, "the clients' connections to close", func() bool { return g.srv.Stats().ConnectionsActive == 1 })

	s := g.srv.Stats()
	total := uint64(clients*requests) + uint64(b.n.Load())
	failed := s.HandlerErrors + s.HandlerPanics
	lost := int64(s.MessagesIn) - int64(s.MessagesOut) - int64(failed)
	t.Logf("%d clients × %d requests in %v; stats: in %d, out %d, invalid %d, handled %d, failed %d, lost %d",
		clients, requests, elapsed, s.MessagesIn, s.MessagesOut, s.Invalid, handled.Load(), failed, lost)
	switch {
	case s.MessagesIn != total:
		t.Errorf("accepted %d requests, clients sent %d", s.MessagesIn, total)
	case failed != 0 || lost != 0:
		t.Errorf("accepted %d = replied %d + failed %d + lost %d: want nothing failed or lost", s.MessagesIn, s.MessagesOut, failed, lost)
	case s.Invalid != invalidSent.Load():
		t.Errorf("%d refused by the validator, %d invalid requests sent", s.Invalid, invalidSent.Load())
	case handled.Load() != s.MessagesIn-s.Invalid-1:
		t.Errorf("%d handler calls, want accepted %d - invalid %d - the bystander's first", handled.Load(), s.MessagesIn, s.Invalid)
	case s.ConnectionsAccepted != uint64(clients)+1 || s.Closes[binproto.ClosePeer] != uint64(clients):
		t.Errorf("%d connections accepted, %d closed by their peer; want %d and %d", s.ConnectionsAccepted, s.Closes[binproto.ClosePeer], clients+1, clients)
	}
}

// invalidCode is the status code the load test's validator refuses.
const invalidCode = 1 << 30

// loadClient connects, makes n requests with random payloads, checks each
// reply, and closes.
func loadClient(p *binproto.Protocol, addr string, c, n int, invalid *atomic.Uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := binproto.Dial(ctx, p, addr, nil)
	if err != nil {
		return fmt.Errorf("client %d: %w", c, err)
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(uint64(c), 1))
	for i := range n {
		if rng.IntN(2) == 0 {
			data := make([]byte, rng.IntN(2048))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			m, err := cl.Request(ctx, binproto.Msg(Benchmark, map[string]any{"data": data}))
			if err != nil {
				return fmt.Errorf("client %d request %d: %w", c, i, err)
			}
			if f, _ := m.Fields(); m.Type != Benchmark || !bytes.Equal(f["data"].([]byte), data) {
				return fmt.Errorf("client %d request %d: reply does not match", c, i)
			}
			continue
		}
		code := rng.IntN(1000)
		if rng.IntN(20) == 0 {
			code = invalidCode
			invalid.Add(1)
		}
		msg := fmt.Sprint(c, "/", i, "/", rng.Uint64())
		m, err := cl.Request(ctx, statusMsg(code, msg))
		if err != nil {
			return fmt.Errorf("client %d request %d: %w", c, i, err)
		}
		f, _ := m.Fields()
		want := map[string]any{"status_code": uint64(code), "message": msg}
		if code == invalidCode {
			want = map[string]any{"status_code": uint64(400), "message": "refused"}
		}
		if m.Type != Status || f["status_code"] != want["status_code"] || f["message"] != want["message"] {
			return fmt.Errorf("client %d request %d: reply %v, want %v", c, i, f, want)
		}
	}
	return nil
}
