package binproto_test

import (
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// udpFlood is the outcome of one flood: what the flooder sent, and what a
// bystander on another address got meanwhile.
type udpFlood struct {
	sent     uint64        // datagrams the flooder sent
	elapsed  time.Duration // how long it sent
	asked    int           // bystander requests
	answered int           // of which answered within their deadline
	p50, p99 time.Duration // bystander round trips (unanswered ones count as their deadline)
}

func (f udpFlood) rate() float64 { return float64(f.sent) / f.elapsed.Seconds() }

// floodUDP floods the UDP server at addr from one source address
// (127.0.0.1, floodWriters goroutines on one socket) for d, while a
// bystander from bystanderIP makes one request at a time, each with
// deadline, and returns what happened.
func floodUDP(t testing.TB, p *binproto.Protocol, addr string, d, deadline time.Duration) udpFlood {
	t.Helper()
	flood := udpFrom(t, addr, "127.0.0.1")
	by := udpFrom(t, addr, bystanderIP)
	cl := binproto.NewClient(p, by, nil)
	defer cl.Close()
	if err := checkStatusEcho(testCtx(t, 5*time.Second), cl, 0); err != nil {
		t.Fatalf("bystander before the flood: %v", err)
	}
	// The flood is of requests the server would answer: the most it can
	// be made to do per datagram.
	frame, err := p.AppendFrame(nil, statusMsg(7, "flood"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		sent atomic.Uint64
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range floodWriters {
		wg.Go(func() {
			n := uint64(0)
			for i := 0; !stop.Load(); i++ {
				if _, err := flood.Write(frame); err == nil {
					n++
				}
				if raceEnabled && i%40 == 0 {
					// Scaled down: the race detector slows the readers
					// ten times, not the kernel. 40 per ms is still ten
					// times the budget.
					time.Sleep(time.Millisecond)
				}
			}
			sent.Add(n)
		})
	}
	var f udpFlood
	var rtts []time.Duration
	for i := 1; time.Since(start) < d; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		t0 := time.Now()
		err := checkStatusEcho(ctx, cl, i)
		rtt := time.Since(t0)
		cancel()
		f.asked++
		if err == nil {
			f.answered++
		} else {
			rtt = deadline
		}
		rtts = append(rtts, rtt)
		time.Sleep(2 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	f.elapsed = time.Since(start)
	f.sent = sent.Load()
	slices.Sort(rtts)
	f.p50 = rtts[len(rtts)/2]
	f.p99 = rtts[len(rtts)*99/100]
	return f
}

// floodWriters is the number of goroutines the flooder writes with.
var floodWriters = max(envInt("BINPROTO_FLOOD_WRITERS"), 1)

func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// TestHostileUDPFlood: a source flooding a UDP server as fast as it can
// does not starve a bystander on another address: the flood is throttled
// by the per-address datagram budget before it is decoded, and the
// bystander gets (nearly) all its replies.
func TestHostileUDPFlood(t *testing.T) {
	if !canBindBystander() {
		t.Skip("needs a second loopback address, " + bystanderIP)
	}
	checkLeaks(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	srv.UDP.Readers = envInt("BINPROTO_UDP_READERS")
	srv.UDP.SourceRate = float64(envInt("BINPROTO_UDP_RATE"))
	registerEcho(srv)
	addr, _ := serveUDP(t, srv)
	d := time.Second
	if s := os.Getenv("BINPROTO_FLOOD_SECONDS"); s != "" { // longer runs for measurement
		n, _ := strconv.ParseFloat(s, 64)
		d = time.Duration(n * float64(time.Second))
	}
	f := floodUDP(t, p, addr, d, 250*time.Millisecond)
	st := srv.Stats()
	t.Logf("flood %d datagrams in %v (%.0f/s); bystander %d/%d answered, p50 %v, p99 %v; server in %d, out %d, throttled %d (%d not read)",
		f.sent, f.elapsed.Round(time.Millisecond), f.rate(), f.answered, f.asked, f.p50, f.p99, st.MessagesIn, st.MessagesOut, st.DatagramsThrottled, int64(f.sent)+int64(f.asked)+1-int64(st.MessagesIn+st.DatagramsThrottled))
	if f.answered*10 < f.asked*9 || f.asked < 20 {
		t.Errorf("the bystander got %d replies to %d requests during the flood, want at least 90%%", f.answered, f.asked)
	}
	// The flood was dropped unread over its budget: what was handled is at
	// most a burst and the budget of the time it lasted.
	handled := st.MessagesIn - uint64(f.asked) - 1
	if budget := binproto.DefaultUDPSourceRate * (1 + f.elapsed.Seconds()); st.DatagramsThrottled == 0 || float64(handled) > budget {
		t.Errorf("%d flood datagrams throttled, %d handled (budget %.0f)", st.DatagramsThrottled, handled, budget)
	}
}

// TestHostileUDPSlowSource: a source whose datagrams go to a slow handler
// holds at most one reader at a time: its further datagrams are queued (and
// over the queue's bound dropped as throttled), so a bystander on another
// address is still answered promptly.
func TestHostileUDPSlowSource(t *testing.T) {
	if !canBindBystander() {
		t.Skip("needs a second loopback address, " + bystanderIP)
	}
	checkLeaks(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p, UDP: binproto.UDPOptions{Readers: 2}}
	registerEcho(srv)
	var slow atomic.Int64
	srv.HandleFunc(FixedBenchmark, func(ctx context.Context, _ *binproto.Message) (binproto.Outgoing, error) {
		slow.Add(1)
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
		return binproto.NoReply, nil
	})
	addr, _ := serveUDP(t, srv)
	nc := udpRaw(t, addr) // from 127.0.0.1
	frame, err := p.AppendFrame(nil, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{1}))
	if err != nil {
		t.Fatal(err)
	}
	const sent = 300 // more than a peer's queue holds
	for range sent {
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the slow handler to run", func() bool { return slow.Load() > 0 })
	by := udpFrom(t, addr, bystanderIP)
	cl := binproto.NewClient(p, by, nil)
	defer cl.Close()
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := checkStatusEcho(ctx, cl, i)
		cancel()
		if err != nil {
			t.Fatalf("bystander request %d while a slow source is served: %v (slow handlers run %d)", i, err, slow.Load())
		}
	}
	if st := srv.Stats(); st.DatagramsThrottled == 0 || slow.Load() >= sent {
		t.Errorf("%d slow datagrams handled, %d throttled, of %d: want the queue bounded", slow.Load(), st.DatagramsThrottled, sent)
	}
}

// udpFrom opens a UDP socket from the local IP from to addr, closed when
// the test ends.
func udpFrom(t testing.TB, addr, from string) *net.UDPConn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// TestUDPReaders: with several readers, concurrent peers each get their
// own replies, every one of them.
func TestUDPReaders(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p, UDP: binproto.UDPOptions{Readers: 4}}
	registerEcho(srv)
	addr, _ := serveUDP(t, srv)
	ctx := testCtx(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for c := range 8 {
		cl := dial(t, p, addr, nil)
		wg.Go(func() {
			for i := range 100 {
				if err := checkStatusEcho(ctx, cl, c*1000+i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A reply is counted once its write returns, which may be after the
	// client has read it.
	waitFor(t, 5*time.Second, "800 in and out", func() bool {
		st := srv.Stats()
		return st.MessagesIn == 800 && st.MessagesOut == 800
	})
	if st := srv.Stats(); st.DatagramsThrottled != 0 {
		t.Errorf("throttled %d, want 0", st.DatagramsThrottled)
	}
}
