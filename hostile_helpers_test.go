package binproto_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// Helpers of the security and hostile-peer tests. They build on
// helpers_test.go (checkGoroutines, serveTCP, dial, rawDial, ...).

// openFDs returns the process's open file descriptors, or -1 where
// /proc/self/fd does not exist.
func openFDs() (int, []string) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, nil
	}
	var names []string
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			names = append(names, l)
		}
	}
	return len(ents), names
}

// checkFDs records the open file descriptors now and, when the test ends
// (after the cleanups registered later), polls for up to 2 s for the count
// to come back down, failing with the list if it does not. Where
// /proc/self/fd does not exist it checks nothing.
func checkFDs(t testing.TB) {
	t.Helper()
	base, _ := openFDs()
	if base < 0 {
		return
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			n, names := openFDs()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("file descriptor leak: %d open, %d at start:\n%s", n, base, strings.Join(names, "\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// checkLeaks checks goroutines and file descriptors at the end of the test.
func checkLeaks(t testing.TB) {
	t.Helper()
	checkFDs(t)
	checkGoroutines(t)
}

// bystanderIP is the loopback address bystanders dial from, so that per-IP
// limits provoked from 127.0.0.1 do not touch them (Linux routes all of
// 127/8 to loopback). Where it cannot be bound they dial from 127.0.0.1.
const bystanderIP = "127.0.0.2"

// canBindBystander reports whether bystanderIP can be bound.
var canBindBystander = sync.OnceValue(func() bool {
	l, err := net.Listen("tcp", bystanderIP+":0")
	if err != nil {
		return false
	}
	l.Close()
	return true
})

// dialFrom connects a client to addr from the local IP from (any port),
// authenticating with opts.Auth; it is closed when the test ends.
func dialFrom(t testing.TB, p *binproto.Protocol, addr, from string, opts *binproto.ClientOptions) *binproto.Client {
	t.Helper()
	if opts == nil {
		opts = &binproto.ClientOptions{}
	}
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := binproto.NewClient(p, nc, opts)
	t.Cleanup(func() { cl.Close() })
	if opts.Auth != nil {
		if err := opts.Auth.Authenticate(testCtx(t, 5*time.Second), cl); err != nil {
			t.Fatalf("bystander authentication: %v", err)
		}
	}
	return cl
}

// bystander is a well-behaved client that keeps making requests while a
// test attacks its server; it must never see an error.
type bystander struct {
	cl      *binproto.Client
	every   time.Duration
	stopped chan struct{}
	done    chan struct{}
	pause   sync.Mutex // held by the loop for each request
	n       atomic.Int64
	err     error
}

// startBystander connects a bystander to addr (from bystanderIP when
// possible, with opts) and starts its request loop after one successful
// request. It stops, and is checked, when the test ends, before the
// server is closed (if the server was started first), or at stop.
func startBystander(t *testing.T, p *binproto.Protocol, addr string, opts *binproto.ClientOptions) *bystander {
	t.Helper()
	return startBystanderEvery(t, p, addr, opts, 2*time.Millisecond)
}

// startBystanderEvery is startBystander with a request every interval.
func startBystanderEvery(t *testing.T, p *binproto.Protocol, addr string, opts *binproto.ClientOptions, every time.Duration) *bystander {
	t.Helper()
	from := "127.0.0.1"
	if canBindBystander() {
		from = bystanderIP
	}
	var cl *binproto.Client
	if opts != nil && opts.TLSConfig != nil {
		cl = dial(t, p, addr, opts)
	} else {
		cl = dialFrom(t, p, addr, from, opts)
	}
	return runBystander(t, cl, every)
}

// runBystander runs the bystander loop over cl, a request every interval.
func runBystander(t *testing.T, cl *binproto.Client, every time.Duration) *bystander {
	t.Helper()
	b := &bystander{cl: cl, every: every, stopped: make(chan struct{}), done: make(chan struct{})}
	if err := checkStatusEcho(testCtx(t, 5*time.Second), cl, 0); err != nil {
		t.Fatalf("bystander's first request: %v", err)
	}
	b.n.Add(1)
	go b.loop()
	t.Cleanup(func() { b.stop(t) })
	return b
}

func (b *bystander) loop() {
	defer close(b.done)
	for i := 1; ; i++ {
		select {
		case <-b.stopped:
			return
		case <-time.After(b.every):
		}
		b.pause.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := checkStatusEcho(ctx, b.cl, i)
		cancel()
		b.pause.Unlock()
		if err != nil {
			b.err = fmt.Errorf("bystander request %d: %w", i, err)
			return
		}
		b.n.Add(1)
	}
}

// stop stops the loop (once) and fails the test if the bystander saw an
// error.
func (b *bystander) stop(t testing.TB) {
	t.Helper()
	select {
	case <-b.stopped:
	default:
		close(b.stopped)
	}
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Error("bystander did not stop")
		return
	}
	if b.err != nil {
		t.Error(b.err)
	}
}

// hold pauses the bystander between requests until the returned function
// is called (for allocation measurements).
func (b *bystander) hold() (release func()) {
	b.pause.Lock()
	return b.pause.Unlock
}

// allocDuring returns the bytes the whole process allocated while f ran.
func allocDuring(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// expectClosed reads nc until the server closes it, within d, and returns
// how long that took.
func expectClosed(t testing.TB, nc net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	readUntilEOF(t, nc, d)
	return time.Since(start)
}

// waitClose waits until srv counted n closes for reason r.
func waitClose(t testing.TB, srv *binproto.Server, r binproto.CloseReason, n uint64) {
	t.Helper()
	waitFor(t, 3*time.Second, fmt.Sprintf("%d closes for %s", n, r), func() bool { return closeCount(srv, r) >= n })
	if got := closeCount(srv, r); got != n {
		t.Errorf("%d closes for %s, want %d", got, r, n)
	}
}

// isClosedErr reports whether err says the connection is gone.
func isClosedErr(err error) bool {
	return errors.Is(err, binproto.ErrConnClosed) || errors.Is(err, net.ErrClosed)
}
