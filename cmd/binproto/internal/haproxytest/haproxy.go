package haproxytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/testutil"
)

// RequireEnv names the environment variable that makes a missing haproxy
// binary an error rather than a reason to skip.
const RequireEnv = "BINPROTO_REQUIRE_HAPROXY"

// ErrNotInstalled: no haproxy binary on PATH or in /usr/sbin.
var ErrNotInstalled = errors.New("haproxy: not installed (apt-get install -y haproxy)")

// Binary returns the path of the haproxy binary.
func Binary() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Config is a HAProxy configuration: one frontend in mode tcp relaying to
// backends with send-proxy-v2.
type Config struct {
	// Listen is the frontend's address (host:port).
	Listen string
	// Backends are the servers' addresses.
	Backends []string
	// Balance is the balance algorithm: "roundrobin" (the default), or
	// "source" (a client address always goes to the same server, so that
	// its per-IP limits are the deployment's).
	Balance string
	// SendProxy is the server option: "send-proxy-v2" (the default) or
	// "send-proxy" (version 1).
	SendProxy string
	// Check makes HAProxy check each server every 100 ms (sending the
	// PROXY header too) and take it out at the first failed check, in at
	// the first good one, and retry a connection refused by a server on
	// another (option redispatch): servers can restart under load.
	Check bool
	// Ready, when set, is the address of a second frontend that accepts
	// connections and closes them at once: Start dials it to know that
	// haproxy listens, without relaying a connection to a server.
	Ready string
}

// Render returns the configuration file's text.
func (c Config) Render() string {
	balance, send := c.Balance, c.SendProxy
	if balance == "" {
		balance = "roundrobin"
	}
	if send == "" {
		send = "send-proxy-v2"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 512

defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s

frontend binproto
  bind %s
  default_backend servers

backend servers
  balance %s
`, c.Listen, balance)
	check := ""
	if c.Check {
		b.WriteString("  option redispatch\n  retries 3\n  timeout connect 500ms\n")
		check = " check check-send-proxy inter 100ms fall 1 rise 1"
	}
	for i, a := range c.Backends {
		fmt.Fprintf(&b, "  server s%d %s %s%s\n", i+1, a, send, check)
	}
	if c.Ready != "" {
		fmt.Fprintf(&b, "\nfrontend ready\n  bind %s\n  tcp-request connection reject\n", c.Ready)
	}
	return b.String()
}

// Proxy is a running haproxy process.
type Proxy struct {
	Addr string // the frontend's address
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error
}

// Start writes cfg into dir (Listen and Ready on free loopback ports when
// empty) and starts haproxy on it in the foreground, waiting up to 10 s
// until it accepts connections on Ready. Stop it with Stop.
func Start(ctx context.Context, bin, dir string, cfg Config) (*Proxy, error) {
	for _, a := range []*string{&cfg.Listen, &cfg.Ready} {
		if *a != "" {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		*a = l.Addr().String()
		l.Close()
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.Render()), 0o644); err != nil {
		return nil, err
	}
	p := &Proxy{Addr: cfg.Listen, out: new(testutil.SyncBuffer), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, "-db", "-f", path) // -db: foreground, no daemon
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", cfg.Ready, time.Second)
		if err == nil {
			nc.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("haproxy exited: %v\n%s", p.err, p.out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("haproxy not listening on %s within 10s\n%s", p.Addr, p.out)
		}
	}
}

// Stop kills haproxy and waits for it to exit; it returns its output.
func (p *Proxy) Stop() string {
	p.cmd.Process.Kill()
	<-p.done
	return p.out.String()
}
