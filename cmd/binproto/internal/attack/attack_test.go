package attack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
)

const testToken = "attack-test-token-0123"

// startServer serves the benchmark protocol on 127.0.0.1:0 (over UDP if
// udp), requiring testToken if token, and returns its address.
func startServer(t *testing.T, udp, token bool) string {
	addr, _ := startServerStats(t, udp, token, nil)
	return addr
}

// startServerStats is startServer with tune applied to the server before
// it serves; it also returns the server, for its Stats.
func startServerStats(t *testing.T, udp, token bool, tune func(*binproto.Server)) (string, *binproto.Server) {
	t.Helper()
	p, err := binprototarget.NewProtocol(binprototarget.ProtocolOptions{UDP: udp, MaxPayload: 1<<20 + 4, IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := binprototarget.NewServer(p)
	srv.RateLimit.MaxConnsPerIP = 64
	if token {
		srv.Auth = &binproto.TokenAuth{Types: binprototarget.AuthTypes, Tokens: map[string]string{testToken: "bystander"}}
	}
	if tune != nil {
		tune(srv)
	}
	errc := make(chan error, 1)
	var addr string
	if udp {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		go func() { errc <- srv.ServePacket(pc) }()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		go func() { errc <- srv.Serve(l) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		if err := <-errc; !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return addr, srv
}

// tiny is a configuration that keeps an attack to a fraction of a second
// and a few connections.
func tiny(addr string, attacks ...string) Config {
	return Config{Addr: addr, Duration: 200 * time.Millisecond, Pause: 0, Conns: 4, Workers: 2,
		FrameSize: 64 << 10, Attacks: attacks, PID: int32(os.Getpid())}
}

// checkResult checks that the attack ran and the report has its fields.
func checkResult(t *testing.T, rep *Report, err error, name string) Result {
	t.Helper()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want 1", len(rep.Results))
	}
	r := rep.Results[0]
	if r.Attack != name || r.Unit == "" || r.DurationS <= 0 || r.Error != "" {
		t.Errorf("result %+v", r)
	}
	if r.Attempts == 0 || r.RatePerSec <= 0 || (r.BytesSent == 0 && name != "conn-flood") {
		t.Errorf("%s: the attack did not run: attempts %d, rate %v, bytes %d", name, r.Attempts, r.RatePerSec, r.BytesSent)
	}
	// Over UDP the flood may crowd out every bystander datagram (the kernel
	// drops them): only require that requests were made.
	by := r.Bystander
	if by.Requests == 0 || (name != "udp-flood" && (by.Requests == by.Errors || by.P50Ms <= 0 || by.MaxMs < by.P99Ms)) {
		t.Errorf("%s: bystander %+v", name, r.Bystander)
	}
	if r.RSS == nil || r.RSS.PeakMB <= 0 || r.RSS.PeakMB < r.RSS.BeforeMB || r.RSS.Samples < 1 {
		t.Errorf("%s: RSS %+v", name, r.RSS)
	}
	return r
}

func TestAttacks(t *testing.T) {
	for _, a := range Attacks {
		t.Run(a.Name, func(t *testing.T) {
			var cfg Config
			switch a.Name {
			case "udp-flood":
				cfg = tiny("", a.Name)
				cfg.UDPAddr = startServer(t, true, false)
			case "token-bruteforce":
				cfg = tiny(startServer(t, false, true), a.Name)
				cfg.Token = testToken
			default:
				cfg = tiny(startServer(t, false, false), a.Name)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := Run(ctx, cfg)
			r := checkResult(t, rep, err, a.Name)
			switch {
			case a.Name == "token-bruteforce" && r.Successes != 0:
				t.Errorf("%d wrong tokens accepted", r.Successes)
			case a.Name == "udp-flood" && r.Successes == 0:
				t.Error("no reply to the flood's requests counted")
			case a.DefaultConns > 0 && (r.Conns != 4 || r.PeakOpen == 0 || r.PeakOpen > 4):
				t.Errorf("conns %d, peak open %d; want 4, 1..4", r.Conns, r.PeakOpen)
			}
		})
	}
}

// TestAttackAuth: with AttackAuth, attack connections authenticate before
// they misbehave, and the bystander authenticates too.
func TestAttackAuth(t *testing.T) {
	cfg := tiny(startServer(t, false, true), "big-frames", "notfound-keepalive")
	cfg.Token, cfg.AttackAuth = testToken, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil || len(rep.Results) != 2 {
		t.Fatalf("Run: %v, %d results", err, len(rep.Results))
	}
	if b := rep.Baseline; b == nil || b.Requests == 0 || b.Errors != 0 || b.P50Ms <= 0 {
		t.Errorf("baseline %+v", b)
	}
	for _, r := range rep.Results {
		if r.Attempts == 0 || r.Bystander.Requests == 0 || r.Bystander.Errors != 0 || r.DialErrors != 0 {
			t.Errorf("%+v", r)
		}
	}
	// The report renders and round-trips as JSON.
	var sb strings.Builder
	WriteTable(&sb, rep)
	t.Log("\n" + sb.String())
	for _, want := range []string{"big-frames", "notfound-keepalive", "bystander p50", "RSS before→peak MB", "bystander alone: p50"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
	path := filepath.Join(t.TempDir(), "a.json")
	if err := WriteJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 2 || back.Results[0].Bystander.Requests == 0 {
		t.Fatalf("JSON %v: %s", err, b)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: "x:1"}, "no attack selected"},
		{Config{Addr: "x:1", Attacks: []string{"nope"}}, `unknown attack "nope"`},
		{Config{Addr: "x:1", Attacks: []string{"garbage", "garbage"}}, "listed twice"},
		{Config{Addr: "x:1", Attacks: []string{"udp-flood"}}, "needs a UDP address"},
		{Config{UDPAddr: "x:1", Attacks: []string{"garbage"}}, "needs a TCP address"},
		{Config{Addr: "x:1", Attacks: []string{"garbage"}, AttackAuth: true}, "attack-auth needs a token"},
		{Config{Addr: "x:1", Attacks: []string{"garbage"}, Source: "nohost"}, "not an IP address"},
	} {
		if _, err := Run(context.Background(), c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestNativeAttacks runs each attack of the native profile briefly against
// a server in this process and checks, from the server's own counters
// (Config.Stats), that it met the defence it tests, and that the bystander
// saw no error.
func TestNativeAttacks(t *testing.T) {
	for _, c := range []struct {
		attack string
		auth   bool // a token server, the attack authenticating first
		check  func(r Result) string
	}{
		{"stream-flood", false, func(r Result) string {
			if r.Successes == 0 {
				return "no request refused as unavailable"
			}
			return noCloses(r, binproto.CloseProtocol, binproto.CloseRateLimit)
		}},
		{"stream-flood", true, func(r Result) string {
			if r.Successes == 0 {
				return "no request refused as unavailable"
			}
			return noCloses(r, binproto.CloseAuthFailed)
		}},
		{"ping-flood", false, func(r Result) string { return closed(r, binproto.CloseRateLimit) }},
		{"id-abuse", false, func(r Result) string {
			if r.Successes == 0 {
				return "no request answered after cancels of unknown ids"
			}
			return closed(r, binproto.CloseProtocol)
		}},
		{"error-flood", false, func(r Result) string { return closed(r, binproto.CloseProtocol) }},
		// Goaways reach no handler: past their allowance they close.
		{"goaway-flood", false, func(r Result) string { return closed(r, binproto.CloseRateLimit) }},
		{"preface-abuse", false, func(r Result) string {
			if msg := closed(r, binproto.CloseConfigMismatch); msg != "" {
				return msg
			}
			return closed(r, binproto.CloseMalformed)
		}},
	} {
		name := c.attack
		if c.auth {
			name += "/auth"
		}
		t.Run(name, func(t *testing.T) {
			addr, srv := startServerStats(t, false, c.auth, func(s *binproto.Server) { s.Native.MaxConcurrentStreams = 8 })
			cfg := tiny(addr, c.attack)
			cfg.Duration = 500 * time.Millisecond
			cfg.Stats = srv.Stats
			if c.auth {
				cfg.Token, cfg.AttackAuth = testToken, true
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := Run(ctx, cfg)
			r := checkResult(t, rep, err, c.attack)
			if r.Bystander.Errors != 0 {
				t.Errorf("bystander: %+v", r.Bystander)
			}
			if r.Server == nil || r.Server.Error != "" {
				t.Fatalf("server figures %+v", r.Server)
			}
			if msg := c.check(r); msg != "" {
				t.Errorf("%s; server %+v, result %+v", msg, *r.Server, r)
			}
			var sb strings.Builder
			WriteTable(&sb, rep)
			t.Log("\n" + sb.String())
			if !strings.Contains(sb.String(), "server closes (rejected)") {
				t.Errorf("table lacks the server's closes:\n%s", sb.String())
			}
		})
	}
}

// closed returns why r does not show closes for reason, or "".
func closed(r Result, reason binproto.CloseReason) string {
	if r.Server.Closes[string(reason)] == 0 {
		return "no connection closed " + string(reason)
	}
	return ""
}

// noCloses returns why r shows closes for one of reasons, or "".
func noCloses(r Result, reasons ...binproto.CloseReason) string {
	for _, reason := range reasons {
		if n := r.Server.Closes[string(reason)]; n != 0 {
			return fmt.Sprintf("%d connections closed %s", n, reason)
		}
	}
	return ""
}
