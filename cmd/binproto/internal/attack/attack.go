package attack

import (
	"context"
	"errors"
	"fmt"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

// Config configures Run.
type Config struct {
	// Addr is the TCP (or TLS-less) binproto server to attack; the
	// bystander of every TCP attack talks to it.
	Addr string
	// UDPAddr is the UDP server of udp-flood (and of its bystander).
	UDPAddr string
	// Source is the local IP address attack connections and datagrams
	// come from ("" lets the system choose). On loopback, 127.0.0.2 keeps
	// the attack apart from the bystander (127.0.0.1) for per-IP limits.
	Source string
	// PID is the server's process id, sampled for RSS; 0: not sampled.
	PID int32
	// Duration bounds each attack. Default 10 s.
	Duration time.Duration
	// Pause separates two attacks, so that the server releases what the
	// first held. Default 2 s.
	Pause time.Duration
	// Interval is the bystander's period. Default 10 ms.
	Interval time.Duration
	// Conns overrides the connection count of every connection-based
	// attack; 0 takes each attack's own default (Attack.DefaultConns).
	Conns int
	// Workers is the number of dialling goroutines of token-bruteforce and
	// conn-flood. Default 16.
	Workers int
	// FrameSize is the declared payload of big-frames and slow-readers.
	// Default 1 MiB, the library's default payload limit.
	FrameSize int
	// Token authenticates the bystander (binproto.TokenAuth); with
	// AttackAuth, attack connections too.
	Token string
	// TokenTypes are the message types of the token exchange. Default
	// Token 100, OK 101.
	TokenTypes binproto.AuthTypes
	// AttackAuth makes attack connections authenticate with Token first
	// (an authenticated insider) before they misbehave.
	AttackAuth bool
	// Checksum: the server checks CRC-32 checksums.
	Checksum bool
	// Metrics is the URL of the server's Prometheus metrics (`binproto
	// serve --metrics`), read before and after each attack for the
	// server's closes by reason and refused connections (Result.Server).
	// "": not read.
	Metrics string
	// Stats, when set, reads the server's counters directly (a server in
	// the same process) instead of Metrics.
	Stats func() binproto.Stats
	// Attacks are the names of the attacks to run, in order.
	Attacks []string
	// Progress, when set, receives a line as each attack starts and ends.
	Progress io.Writer
}

// Defaults.
const (
	DefaultDuration  = 10 * time.Second
	DefaultPause     = 2 * time.Second
	DefaultInterval  = 10 * time.Millisecond
	DefaultWorkers   = 16
	DefaultFrameSize = 1 << 20
	// MinTokenLen is the shortest token of the wrong tokens sent.
	minTokenLen = 16
)

// DefaultTokenTypes are the message types of `binproto serve --token`.
var DefaultTokenTypes = binproto.AuthTypes{Token: 100, OK: 101}

// Attack is one attack.
type Attack struct {
	Name string
	// What it does and checks, for the help text.
	Help string
	// Unit names what Result.Attempts counts; SuccessUnit what
	// Result.Successes counts, if anything.
	Unit, SuccessUnit string
	// DefaultConns is its connection count without Config.Conns; 0 for
	// attacks that are not bounded by a connection count.
	DefaultConns int
	// UDP: the attack needs Config.UDPAddr.
	UDP bool
	// Native: the attack speaks the native profile, with the protocol of
	// `binproto serve` (its fingerprint in the preface).
	Native bool
	run    func(ctx context.Context, e *env) error
}

// Attacks lists every attack, in the order --all runs them.
var Attacks = []Attack{
	{Name: "token-bruteforce", Unit: "wrong tokens", SuccessUnit: "accepted", run: tokenBruteforce,
		Help: "new connections from one address as fast as the workers can, each sending a wrong token: failed-auth throttling"},
	{Name: "conn-flood", Unit: "connections", DefaultConns: 2000, run: connFlood,
		Help: "open connections as fast as possible and hold them idle: MaxConnections, MaxConnsPerIP, file descriptors"},
	{Name: "slowloris", Unit: "bytes", DefaultConns: 200, run: slowloris,
		Help: "connections each sending a frame one byte a second: ReadTimeout (and AuthTimeout)"},
	{Name: "big-frames", Unit: "frames declared", DefaultConns: 200, run: bigFrames,
		Help: "connections each declaring a FrameSize frame and sending it at 40 KiB/s: the MaxBufferedBytes budget"},
	{Name: "slow-readers", Unit: "requests", DefaultConns: 50, run: slowReaders,
		Help: "connections pipelining FrameSize echo requests and never reading: WriteTimeout, MaxQueuedBytes, the budget"},
	{Name: "notfound-keepalive", Unit: "frames", DefaultConns: 200, run: notFoundKeepalive,
		Help: "connections sending a bare not-found header (ff ff) every 2 s: only dispatched frames reset IdleTimeout"},
	{Name: "garbage", Unit: "bytes", DefaultConns: 50, run: garbage,
		Help: "connections sending random bytes as fast as they can, reconnecting when closed: framing errors close at once"},
	{Name: "stream-flood", Unit: "requests", SuccessUnit: "refused unavailable", DefaultConns: 50, Native: true, run: streamFlood,
		Help: "native: connections each sending a quarter more slow requests than MaxConcurrentStreams at once: the excess refused (retryable)"},
	{Name: "ping-flood", Unit: "pings written", DefaultConns: 50, Native: true, run: pingFlood,
		Help: "native: pings as fast as the server reads them: answered up to 64 then 20/s, faster closed (rate_limit)"},
	{Name: "id-abuse", Unit: "abusive frames", SuccessUnit: "answered after cancels", DefaultConns: 50, Native: true, run: idAbuse,
		Help: "native: an in-flight request id reused, a reply from the client (closed: protocol), an unknown kind; cancels of unknown ids (harmless)"},
	{Name: "error-flood", Unit: "error frames written", DefaultConns: 50, Native: true, run: errorFlood,
		Help: "native: error frames from the client, reconnecting: each closes its connection (protocol)"},
	{Name: "goaway-flood", Unit: "goaways", DefaultConns: 50, Native: true, run: goawayFlood,
		Help: "native: goaways as fast as the server reads them: ignored, and no keepalive for the connection"},
	{Name: "preface-abuse", Unit: "prefaces", DefaultConns: 60, Native: true, run: prefaceAbuse,
		Help: "native: a preface sent one byte a second; wrong fingerprints (config_mismatch); version 2 (malformed)"},
	{Name: "udp-flood", Unit: "datagrams", SuccessUnit: "replies", UDP: true, run: udpFlood,
		Help: "valid requests from one UDP socket as fast as it can (needs --udp): other UDP peers are still answered"},
}

// Names returns the names of Attacks.
func Names() []string {
	out := make([]string, len(Attacks))
	for i, a := range Attacks {
		out[i] = a.Name
	}
	return out
}

// find returns the attack named name.
func find(name string) (Attack, bool) {
	for _, a := range Attacks {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}

// withDefaults returns cfg with defaults applied, or the first setting
// that cannot run.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Pause < 0 {
		return cfg, errors.New("pause must not be negative")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.FrameSize <= 0 {
		cfg.FrameSize = DefaultFrameSize
	}
	if cfg.TokenTypes == (binproto.AuthTypes{}) {
		cfg.TokenTypes = DefaultTokenTypes
	}
	if cfg.TokenTypes.Token == 0 || cfg.TokenTypes.OK == 0 {
		return cfg, errors.New("token types need both Token and OK")
	}
	if cfg.Conns < 0 {
		return cfg, fmt.Errorf("conns must not be negative, got %d", cfg.Conns)
	}
	if cfg.AttackAuth && cfg.Token == "" {
		return cfg, errors.New("attack-auth needs a token")
	}
	if len(cfg.Attacks) == 0 {
		return cfg, errors.New("no attack selected")
	}
	for i, name := range cfg.Attacks {
		a, ok := find(name)
		switch {
		case !ok:
			return cfg, fmt.Errorf("unknown attack %q (known: %v)", name, Names())
		case slices.Contains(cfg.Attacks[:i], name):
			return cfg, fmt.Errorf("attack %q listed twice", name)
		case a.UDP && cfg.UDPAddr == "":
			return cfg, fmt.Errorf("attack %q needs a UDP address", name)
		case !a.UDP && cfg.Addr == "":
			return cfg, fmt.Errorf("attack %q needs a TCP address", name)
		}
	}
	if cfg.Source != "" && net.ParseIP(cfg.Source) == nil {
		return cfg, fmt.Errorf("source %q is not an IP address", cfg.Source)
	}
	return cfg, nil
}

// Run runs the attacks of cfg one after the other and returns their
// report. It stops early, with the results so far, when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rep := &Report{Addr: cfg.Addr, UDPAddr: cfg.UDPAddr, Source: cfg.Source, PID: cfg.PID,
		Started: time.Now().UTC(), DurationS: cfg.Duration.Seconds(), BystanderIntervalMs: ms(cfg.Interval),
		AttackAuth: cfg.AttackAuth, BystanderAuth: cfg.Token != ""}
	if rep.Baseline, err = baseline(ctx, cfg); err != nil {
		return rep, fmt.Errorf("baseline: %w", err)
	}
	for i, name := range cfg.Attacks {
		if i > 0 && cfg.Pause > 0 {
			select {
			case <-ctx.Done():
				return rep, ctx.Err()
			case <-time.After(cfg.Pause):
			}
		}
		a, _ := find(name)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "attack %s: %v...\n", a.Name, cfg.Duration)
		}
		res, err := runOne(ctx, cfg, a)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", a.Name, err)
		}
		rep.Results = append(rep.Results, *res)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "attack %s: %s %s/s; bystander p99 %s, %d errors\n", a.Name,
				report.FormatRate(res.RatePerSec), res.Unit, formatMs(res.Bystander.P99Ms), res.Bystander.Errors)
		}
	}
	return rep, ctx.Err()
}

// maxBaseline bounds the bystander's run alone, before the attacks.
const maxBaseline = 2 * time.Second

// baseline runs the bystander alone, for Duration but at most
// maxBaseline, against the server of the first attack: what it sees
// without an attack.
func baseline(ctx context.Context, cfg Config) (*Bystander, error) {
	a, _ := find(cfg.Attacks[0])
	by, err := startBystander(ctx, cfg, a.UDP)
	if err != nil {
		return nil, err
	}
	sleep(ctx, min(cfg.Duration, maxBaseline))
	b := by.stop()
	return &b, nil
}

// runOne runs attack a with its bystander and RSS sampler.
func runOne(ctx context.Context, cfg Config, a Attack) (*Result, error) {
	e, err := newEnv(cfg, a)
	if err != nil {
		return nil, err
	}
	by, err := startBystander(ctx, cfg, a.UDP)
	if err != nil {
		return nil, fmt.Errorf("bystander: %w", err)
	}
	var rss *rssSampler
	if cfg.PID != 0 {
		if rss, err = startRSS(ctx, cfg.PID); err != nil {
			by.stop()
			return nil, err
		}
	}
	before, counted, serr := readServer(ctx, cfg)
	actx, cancel := context.WithTimeout(ctx, cfg.Duration)
	start := time.Now()
	err = a.run(actx, e)
	cancel()
	e.closeAll()
	elapsed := time.Since(start)
	res := &Result{Attack: a.Name, Unit: a.Unit, SuccessUnit: a.SuccessUnit, DurationS: elapsed.Seconds(), Conns: e.conns}
	e.c.fill(res, elapsed)
	res.Bystander = by.stop()
	if counted {
		res.Server = serverSince(ctx, cfg, before, serr)
	}
	if rss != nil {
		r := rss.stop()
		res.RSS = &r
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		res.Error = err.Error()
	}
	return res, nil
}

// env is what an attack works with.
type env struct {
	cfg   Config
	proto *binproto.Protocol // TCP (or UDP for udp-flood), payload up to 4 MiB
	nat   *nativeEnv         // the native attacks' protocol; nil for the others
	conns int                // the attack's connection count
	c     counters
	dial  net.Dialer

	mu   sync.Mutex
	open map[net.Conn]struct{}
	wg   sync.WaitGroup
}

func newEnv(cfg Config, a Attack) (*env, error) {
	p, err := protocol(cfg, a.UDP)
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, proto: p, conns: a.DefaultConns, open: make(map[net.Conn]struct{})}
	if a.Native {
		if e.nat, err = newNativeEnv(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Conns > 0 && a.DefaultConns > 0 {
		e.conns = cfg.Conns
	}
	if lim := fdLimit(); lim > 0 && e.conns > int(lim)-256 {
		e.conns = max(int(lim)-256, 1) // keep descriptors for the bystander and the runtime
	}
	e.dial.Timeout = 5 * time.Second
	if cfg.Source != "" {
		ip := net.ParseIP(cfg.Source)
		if a.UDP {
			e.dial.LocalAddr = &net.UDPAddr{IP: ip}
		} else {
			e.dial.LocalAddr = &net.TCPAddr{IP: ip}
		}
	}
	return e, nil
}

// protocol returns the quick-start protocol with the token exchange,
// accepting payloads up to 4 MiB (what the attacks send).
func protocol(cfg Config, udp bool) (*binproto.Protocol, error) {
	qs, err := quickstart.Protocol(quickstart.Options{Checksum: cfg.Checksum, UDP: udp, Base: binproto.Config{MaxPayloadSize: 4 << 20}})
	if err != nil {
		return nil, err
	}
	if udp {
		return qs, nil
	}
	c := qs.Config()
	cfg.TokenTypes.Declare(&c)
	return binproto.NewProtocol(c)
}

// connect dials the server from the attack's source address, tracks the
// connection for closeAll, exchanges the native prefaces for a native
// attack and, with AttackAuth, authenticates it.
func (e *env) connect(ctx context.Context) (net.Conn, error) {
	if e.nat != nil {
		return e.connectNative(ctx)
	}
	nc, err := e.connectRaw(ctx)
	if err != nil || !e.cfg.AttackAuth {
		return nc, err
	}
	if err := e.authenticate(ctx, nc); err != nil {
		e.release(nc, true)
		return nil, err
	}
	return nc, nil
}

// connectRaw is connect without authentication.
func (e *env) connectRaw(ctx context.Context) (net.Conn, error) {
	e.c.dials.Add(1)
	nc, err := e.dial.DialContext(ctx, "tcp", e.cfg.Addr)
	if err != nil {
		if !ended(ctx) {
			e.c.dialErrors.Add(1)
		}
		return nil, err
	}
	e.mu.Lock()
	e.open[nc] = struct{}{}
	e.mu.Unlock()
	e.c.opened()
	return nc, nil
}

// release closes nc; byServer says the server closed it first.
func (e *env) release(nc net.Conn, byServer bool) {
	e.mu.Lock()
	_, ok := e.open[nc]
	delete(e.open, nc)
	e.mu.Unlock()
	if !ok {
		return
	}
	nc.Close()
	e.c.open.Add(-1)
	if byServer {
		e.c.closedByServer.Add(1)
	}
}

// closeAll closes every connection still open and waits for the attack's
// goroutines.
func (e *env) closeAll() {
	e.mu.Lock()
	for nc := range e.open {
		nc.Close()
		delete(e.open, nc)
		e.c.open.Add(-1)
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// authenticate sends the token on nc and waits for the OK.
func (e *env) authenticate(ctx context.Context, nc net.Conn) error {
	tok, err := e.tokenFrame([]byte(e.cfg.Token))
	if err != nil {
		return err
	}
	ok, err := e.proto.AppendFrame(nil, binproto.Msg(e.cfg.TokenTypes.OK, nil))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	if d, has := ctx.Deadline(); has && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(tok); err != nil {
		return err
	}
	got := make([]byte, len(ok))
	if _, err := io.ReadFull(nc, got); err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	if string(got) != string(ok) {
		return fmt.Errorf("authenticate: got %x, want %x", got, ok)
	}
	return nil
}

// tokenFrame returns the frame of a token message carrying tok.
func (e *env) tokenFrame(tok []byte) ([]byte, error) {
	return e.proto.AppendFrame(nil, binproto.Msg(e.cfg.TokenTypes.Token, map[string]any{"token": tok}))
}

// counters are an attack's figures, updated by its goroutines.
type counters struct {
	attempts       atomic.Uint64 // in the attack's unit
	successes      atomic.Uint64 // what should not happen (a wrong token accepted) or replies (UDP)
	dials          atomic.Uint64
	dialErrors     atomic.Uint64
	closedByServer atomic.Uint64
	open, peakOpen atomic.Int64
	bytes          atomic.Uint64
}

func (c *counters) opened() {
	n := c.open.Add(1)
	for {
		p := c.peakOpen.Load()
		if n <= p || c.peakOpen.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *counters) fill(r *Result, elapsed time.Duration) {
	r.Attempts = c.attempts.Load()
	r.RatePerSec = float64(r.Attempts) / elapsed.Seconds()
	r.Successes = c.successes.Load()
	r.Dials = c.dials.Load()
	r.DialsPerSec = float64(r.Dials) / elapsed.Seconds()
	r.DialErrors = c.dialErrors.Load()
	r.ClosedByServer = c.closedByServer.Load()
	r.PeakOpen = c.peakOpen.Load()
	r.BytesSent = c.bytes.Load()
}

// ended reports whether ctx is done or its deadline has passed: a dial cut
// short by the attack's end is not a dial error, even in the instant before
// the context's own timer marks it done.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
