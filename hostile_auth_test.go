package binproto_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// countingAuth wraps a, a custom Authenticator as far as the server can
// tell, counting the frames its steps judge: the guesses an attacker got.
func countingAuth(a binproto.Authenticator, judged *atomic.Int64) binproto.Authenticator {
	return binproto.AuthFunc(func(ctx context.Context, c *binproto.Conn) (binproto.AuthResult, error) {
		res, err := a.Begin(ctx, c)
		if next := res.Next; next != nil {
			res.Next = func(ctx context.Context, m *binproto.Message) (binproto.AuthResult, error) {
				judged.Add(1)
				return next(ctx, m)
			}
		}
		return res, err
	})
}

// guess connects from 127.0.0.1, sends a wrong token and waits for the
// server to close the connection.
func guess(addr string, frame []byte) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(frame)
	var b [64]byte
	for {
		if _, err := nc.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return err
			}
			return nil
		}
	}
}

// TestHostileTokenBruteForce: wrong tokens sent as fast as 8 connections
// at a time allow (with a pause of 1 ms after each, so as not to run out
// of ports), from one address, for 2 s. By default the server judges
// at most a few at once and then about one a second (far below 20/s);
// the rest wait briefly or are refused at once. A client from another
// address authenticates meanwhile without delay.
func TestHostileTokenBruteForce(t *testing.T) {
	var judged atomic.Int64
	g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth = countingAuth(tokenAuth(), &judged) })
	startBystander(t, g.p, g.addr, tokenCreds(bystanderToken))
	bad, _ := g.p.AppendFrame(nil, binproto.Msg(authTypes.Token, map[string]any{"token": []byte("a-wrong-guess-0123456789")}))
	const attack = 2 * time.Second
	stop := time.Now().Add(attack)
	var attempts atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if err := guess(g.addr, bad); err != nil {
					t.Errorf("guess: %v", err)
					return
				}
				attempts.Add(1)
				time.Sleep(time.Millisecond) // spare the loopback's ports
			}
		})
	}
	wg.Wait()
	n := judged.Load() - 1 // the bystander's token was judged too
	t.Logf("%d connections in %v from one address; %d tokens judged (%.1f/s)", attempts.Load(), attack, n, float64(n)/attack.Seconds())
	if rate := float64(n) / attack.Seconds(); rate > 20 {
		t.Errorf("%.1f guesses judged per second from one address, want at most 20", rate)
	}
	// A close is counted just after the peer sees it.
	waitFor(t, 2*time.Second, "the closes counted", func() bool {
		s := g.srv.Stats()
		return s.Closes[binproto.CloseAuthFailed] == s.AuthFailures+s.AuthThrottled
	})
	if s := g.srv.Stats(); s.AuthFailures != uint64(n) || s.AuthThrottled == 0 {
		t.Errorf("stats: %d failures (%d judged), %d throttled", s.AuthFailures, n, s.AuthThrottled)
	}
	if canBindBystander() {
		start := time.Now()
		cl := dialFrom(t, g.p, g.addr, bystanderIP, tokenCreds(bystanderToken))
		if d := time.Since(start); d > time.Second {
			t.Errorf("a client from another address took %v to authenticate", d)
		}
		cl.Close()
	}
}

// TestHostileAuthDelayed: one guess after another from one address, with
// a throttle of 3 failures, then 10 a second, waiting at most 250 ms: the
// first 3 are judged at once, the next ones each wait their turn (about
// 100 ms); none is refused, the wait being within MaxDelay. With the
// throttle off, nothing waits.
func TestHostileAuthDelayed(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit binproto.AuthFailureLimit
		fast  int // guesses that should not wait
	}{
		{"throttled", binproto.AuthFailureLimit{Rate: 10, Burst: 3, MaxDelay: 250 * time.Millisecond}, 3},
		{"off", binproto.AuthFailureLimit{Rate: -1}, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth, s.AuthFailures = tokenAuth(), c.limit })
			bad, _ := g.p.AppendFrame(nil, binproto.Msg(authTypes.Token, map[string]any{"token": []byte("a-wrong-guess-0123456789")}))
			fast := 0
			for i := range 10 {
				start := time.Now()
				if err := guess(g.addr, bad); err != nil {
					t.Fatal(err)
				}
				d := time.Since(start)
				if d < 50*time.Millisecond {
					fast++
				} else if d > 400*time.Millisecond {
					t.Errorf("guess %d took %v", i, d)
				}
			}
			s := g.srv.Stats()
			t.Logf("%d of 10 guesses without delay; stats: %d failures, %d delayed, %d throttled", fast, s.AuthFailures, s.AuthDelayed, s.AuthThrottled)
			if fast != c.fast || s.AuthFailures != 10 || s.AuthDelayed != uint64(10-c.fast) || s.AuthThrottled != 0 {
				t.Errorf("%d guesses without delay, want %d; %d failures, %d delayed, %d throttled", fast, c.fast, s.AuthFailures, s.AuthDelayed, s.AuthThrottled)
			}
			// A success is not charged: the right token authenticates
			// from the same address once a turn is earned.
			if got := whoami(t, dial(t, g.p, g.addr, tokenCreds(aliceToken))); got != "token:alice:true" {
				t.Errorf("identity %q after the guesses", got)
			}
		})
	}
}

// TestHostileConnRate: RateLimit.IPConnRate refuses, at once, the
// connections one address opens faster than its rate (beyond its burst);
// another address is not affected.
func TestHostileConnRate(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) { s.RateLimit.IPConnRate = 10 })
	startBystander(t, g.p, g.addr, nil)
	const n = 50
	start := time.Now()
	for range n {
		nc, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	elapsed := time.Since(start)
	// The burst is 1 s of the rate (10), plus what the rate earned meanwhile.
	max := 10 + uint64(elapsed.Seconds()*10) + 1
	waitFor(t, 2*time.Second, "every connection counted", func() bool {
		s := g.srv.Stats()
		return s.ConnectionsAccepted+s.ConnectionsRejected >= n+1
	})
	s := g.srv.Stats()
	t.Logf("%d connections in %v: %d accepted, %d rejected", n, elapsed, s.ConnectionsAccepted-1, s.ConnectionsRejected)
	if s.ConnectionsAccepted-1 > max || s.ConnectionsAccepted-1 < 10 || s.Closes[binproto.CloseLimit] != s.ConnectionsRejected {
		t.Errorf("%d accepted (want 10..%d), %d rejected, %d limit closes", s.ConnectionsAccepted-1, max, s.ConnectionsRejected, s.Closes[binproto.CloseLimit])
	}
	if canBindBystander() {
		dialFrom(t, g.p, g.addr, bystanderIP, nil)
	}
}

// TestHostileLogFlood: 500 connections that send a forged length are
// closed one by one, but the log does not get 500 lines: the first few
// closes of a reason are logged, then one summary line carries the count
// of the others (here at Close, the attack lasting less than the interval).
func TestHostileLogFlood(t *testing.T) {
	var log lockedBuffer
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	})
	const n = 500
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= n {
				nc, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				nc.Write(benchHeader(0xFFFFFFFF))
				readUntilEOF(t, nc, 3*time.Second)
				nc.Close()
			}
		})
	}
	wg.Wait()
	waitClose(t, g.srv, binproto.CloseTooLarge, n)
	waitFor(t, 2*time.Second, "every connection closed", func() bool { return g.srv.Stats().ConnectionsActive == 0 })
	g.srv.Close()
	var lines, logged, summarized int
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var rec struct {
			Msg    string
			Reason string
			Count  int
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines++
		switch {
		case rec.Reason != string(binproto.CloseTooLarge):
		case rec.Msg == "binproto: connection closed":
			logged++
		case rec.Msg == "binproto: more connections closed than logged":
			summarized += rec.Count
		}
	}
	t.Logf("%d closes: %d log lines, %d closes logged, %d summarized", n, lines, logged, summarized)
	if lines > 30 {
		t.Errorf("%d log lines for %d closes, want at most 30", lines, n)
	}
	if logged+summarized != n {
		t.Errorf("%d closes logged and %d summarized, want %d in all", logged, summarized, n)
	}
}

// TestHostileShortToken: a short token can be guessed, so Serve refuses a
// TokenAuth holding one, naming it by its name, never by the token.
func TestHostileShortToken(t *testing.T) {
	checkGoroutines(t)
	p := authProto(t, nil)
	const short = "hunter2-hunter2" // 15 bytes
	srv := &binproto.Server{Protocol: p, Auth: &binproto.TokenAuth{Types: authTypes,
		Tokens: map[string]string{aliceToken: "alice", short: "legacy-service"}}}
	want := `binproto: invalid config: Server.Auth: TokenAuth.Tokens: the token of "legacy-service" is shorter than 16 bytes`
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusesToServe(t, "Serve with a short token", want, func() error { return srv.Serve(l) }, func() { srv.Close() })
}
