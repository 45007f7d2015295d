package binproto_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// nativeOpts returns client options for the native profile.
func nativeOpts() *binproto.ClientOptions {
	return &binproto.ClientOptions{Profile: binproto.ProfileNative}
}

func TestNativeRoundTrip(t *testing.T) {
	p := quickProto(t, nil)
	forEachKind(t, p, registerEcho, func(t *testing.T, e *env) {
		cl := e.client(t, nativeOpts())
		ctx := testCtx(t, 5*time.Second)
		var got sensor
		in := sensor{1, 2, 3, 4}
		typ, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &got)
		if err != nil || typ != SensorData || got != in {
			t.Fatalf("RequestTyped = %v, %v, %+v", typ, err, got)
		}
		m, err := cl.Request(ctx, statusMsg(7, "hello"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := m.Fields()
		if err != nil || f["message"] != "hello" {
			t.Fatalf("fields %v, %v", f, err)
		}
		// Many calls in flight on the one connection.
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := fixedBench{Value: uint32(i)}
				var r fixedBench
				if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(FixedBenchmark, fixedCodec, &v), fixedCodec, &r); err != nil || r != v {
					errs <- errors.Join(err, errors.New("wrong reply"))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

func TestNativeErrorsKeepTheConnection(t *testing.T) {
	p := quickProto(t, nil)
	release := make(chan struct{})
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	srv.HandleFunc(Benchmark, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		switch string(f["data"].([]byte)) {
		case "fail":
			return binproto.NoReply, errors.New("disk full")
		case "invalid":
			return binproto.NoReply, binproto.Errorf(binproto.CodeInvalid, "no such sensor")
		case "panic":
			panic("boom")
		case "none":
			return binproto.NoReply, nil
		case "block":
			<-release
		}
		return binproto.Msg(Benchmark, f), nil
	})
	binproto.ValidateTyped(srv, Status, statusCodec, func(s *status) error {
		if s.Code > 999 {
			return errors.New("status code out of range")
		}
		return nil
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nativeOpts())
	ctx := testCtx(t, 5*time.Second)
	bench := func(s string) binproto.Outgoing { return binproto.Msg(Benchmark, map[string]any{"data": []byte(s)}) }

	cases := []struct {
		out          binproto.Outgoing
		code         binproto.Code
		is           error
		notProcessed bool
		text         string
	}{
		{bench("fail"), binproto.CodeInternal, nil, false, "disk full"},
		{bench("invalid"), binproto.CodeInvalid, binproto.ErrInvalidMessage, false, "no such sensor"},
		{bench("panic"), binproto.CodeInternal, nil, false, "panicked"},
		{statusMsg(1000, "x"), binproto.CodeInvalid, binproto.ErrInvalidMessage, true, "out of range"},
		{binproto.Msg(FixedBenchmark+100, nil), 0, nil, false, ""}, // not configured: an encode error, nothing sent
	}
	for _, c := range cases {
		_, err := cl.Request(ctx, c.out)
		if c.code == 0 {
			if err == nil || errors.As(err, new(*binproto.Error)) {
				t.Fatalf("unconfigured type: %v", err)
			}
			continue
		}
		var e *binproto.Error
		if !errors.As(err, &e) || e.Code != c.code || e.NotProcessed != c.notProcessed || !strings.Contains(e.Message, c.text) {
			t.Fatalf("%v: got %v (%#v), want code %v notProcessed %v with %q", c.out.Type, err, e, c.code, c.notProcessed, c.text)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("errors.Is(%v, %v) = false", err, c.is)
		}
	}
	if _, err := cl.Request(ctx, bench("none")); !errors.Is(err, binproto.ErrNoReply) {
		t.Fatalf("no reply: %v", err)
	}
	// A type with no handler: not found, and the connection stays.
	srv2 := &binproto.Server{Protocol: p}
	addr2, _ := serveTCP(t, srv2)
	cl2 := dial(t, p, addr2, nativeOpts())
	if _, err := cl2.Request(ctx, statusMsg(1, "x")); !errors.Is(err, binproto.ErrNotFound) {
		t.Fatalf("not found: %v", err)
	}
	if _, err := cl2.Request(ctx, statusMsg(1, "x")); !errors.Is(err, binproto.ErrNotFound) {
		t.Fatalf("not found, again on the same connection: %v", err)
	}
	// After all that the first connection still serves, and a request
	// behind a blocked one is answered first.
	blocked := make(chan error, 1)
	go func() { _, err := cl.Request(ctx, bench("block")); blocked <- err }()
	if _, err := cl.Request(ctx, bench("ok")); err != nil {
		t.Fatalf("a request behind a blocked one: %v", err)
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.ConnectionsActive != 1 || st.HandlerPanics != 1 {
		t.Errorf("server stats: %+v", st)
	}
}

func TestNativeDeadlineAndCancel(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	type seen struct {
		hasDeadline bool
		remaining   time.Duration // at the handler's start
		err         error
	}
	seenc := make(chan seen, 2)
	srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		dl, ok := ctx.Deadline()
		remaining := time.Until(dl)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
		seenc <- seen{ok, remaining, ctx.Err()}
		return binproto.NoReply, ctx.Err()
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nativeOpts())

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := cl.Request(ctx, statusMsg(1, "x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	// The handler's context ends by the caller's deadline, or by the
	// cancel the caller sends when it passes, whichever comes first.
	if s := <-seenc; !s.hasDeadline || s.remaining <= 0 || s.remaining > 100*time.Millisecond || s.err == nil {
		t.Fatalf("the handler saw %+v, want the caller's deadline", s)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	if _, err := cl.Request(ctx2, statusMsg(1, "x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	if s := <-seenc; s.hasDeadline || !errors.Is(s.err, context.Canceled) {
		t.Fatalf("the handler saw %+v, want a cancellation", s)
	}
}

func TestNativeMaxConcurrentStreams(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, Native: binproto.NativeOptions{MaxConcurrentStreams: 2}}
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		started <- struct{}{}
		<-release
		return binproto.Msg(Status, map[string]any{"status_code": 1, "message": ""}), nil
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nativeOpts())
	ctx := testCtx(t, 5*time.Second)
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := cl.Request(ctx, statusMsg(1, "x")); done <- err }()
		<-started
	}
	_, err := cl.Request(ctx, statusMsg(1, "x"))
	var e *binproto.Error
	if !errors.As(err, &e) || e.Code != binproto.CodeUnavailable || !e.Retryable() {
		t.Fatalf("third stream: %v, want a retryable unavailable error", err)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestNativeConfigMismatch(t *testing.T) {
	srvProto := quickProto(t, nil)
	srv := &binproto.Server{Protocol: srvProto}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	cliProto := quickProto(t, func(c *binproto.Config) { c.Checksum = binproto.CRC32 })
	_, err := binproto.Dial(testCtx(t, 5*time.Second), cliProto, addr, nativeOpts())
	var me *binproto.ConfigMismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Dial = %v, want a *ConfigMismatchError naming the checksum", err)
	}
}

func TestNativeFallback(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, Native: binproto.NativeOptions{Disable: true}}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	ctx := testCtx(t, 5*time.Second)
	if _, err := binproto.Dial(ctx, p, addr, nativeOpts()); !errors.Is(err, binproto.ErrNotNative) {
		t.Fatalf("Dial to a compatible-only server = %v, want ErrNotNative", err)
	}
	o := nativeOpts()
	o.Fallback = true
	cl := dial(t, p, addr, o)
	if _, err := cl.Request(ctx, statusMsg(1, "fallback")); err != nil {
		t.Fatal(err)
	}
}

func TestNativeShutdownGoAway(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	started := make(chan struct{}, 1)
	srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		started <- struct{}{}
		time.Sleep(100 * time.Millisecond)
		return binproto.Msg(Status, map[string]any{"status_code": 1, "message": "done"}), nil
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nativeOpts())
	ctx := testCtx(t, 5*time.Second)
	inflight := make(chan error, 1)
	go func() { _, err := cl.Request(ctx, statusMsg(1, "x")); inflight <- err }()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	if err := <-inflight; err != nil {
		t.Fatalf("the request in flight at Shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_, err := cl.Request(ctx, statusMsg(1, "late"))
	var e *binproto.Error
	if !errors.As(err, &e) || !e.NotProcessed || !e.Retryable() {
		if !errors.Is(err, binproto.ErrConnClosed) {
			t.Fatalf("a request after the goaway: %v", err)
		}
	}
}

func TestNativeAuthAndCompatibleOnOnePort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		auth  binproto.Authenticator
		creds binproto.ClientAuthenticator
	}{
		{"token", &binproto.TokenAuth{Types: authTypes, Tokens: map[string]string{"0123456789abcdef": "dev"}},
			binproto.TokenCredentials{Types: authTypes, Token: []byte("0123456789abcdef")}},
		{"hmac", &binproto.HMACAuth{Types: authTypes, Secret: func(string) ([]byte, bool) { return []byte("secret"), true }},
			binproto.HMACCredentials{Types: authTypes, ClientID: "dev", Secret: []byte("secret")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := authProto(t, nil)
			srv := &binproto.Server{Protocol: p, Auth: tc.auth}
			registerEcho(srv)
			addr, _ := serveTCP(t, srv)
			ctx := testCtx(t, 5*time.Second)
			for _, profile := range []binproto.Profile{binproto.ProfileNative, binproto.ProfileCompatible} {
				cl := dial(t, p, addr, &binproto.ClientOptions{Profile: profile, Auth: tc.creds})
				if _, err := cl.Request(ctx, statusMsg(1, profile.String())); err != nil {
					t.Fatalf("%v: %v", profile, err)
				}
			}
			_, err := binproto.Dial(ctx, p, addr, &binproto.ClientOptions{Profile: binproto.ProfileNative,
				Auth: binproto.TokenCredentials{Types: authTypes, Token: []byte("wrong-token-0123456")}})
			if tc.name == "token" && !errors.Is(err, binproto.ErrAuthFailed) {
				t.Fatalf("a wrong token: %v", err)
			}
		})
	}
}

func TestNativeRateLimited(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, RateLimit: binproto.RateLimit{ConnMessageRate: 1, Burst: 5 * time.Second}}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nativeOpts())
	ctx := testCtx(t, 5*time.Second)
	var limited int
	for range 20 {
		_, err := cl.Request(ctx, statusMsg(1, "x"))
		var e *binproto.Error
		switch {
		case err == nil:
		case errors.As(err, &e) && e.Code == binproto.CodeRateLimited && e.Retryable() && errors.Is(err, binproto.ErrRateLimited):
			limited++
		default:
			t.Fatalf("request: %v", err)
		}
	}
	if limited < 10 {
		t.Fatalf("%d of 20 requests rate limited, want most past the burst of 5", limited)
	}
	if st := srv.Stats(); st.ConnectionsActive != 1 || st.RateLimited != uint64(limited) {
		t.Errorf("stats: active %d, rate limited %d (want 1, %d)", st.ConnectionsActive, st.RateLimited, limited)
	}
}

// TestNativeHandlerWaitsForLaterRequest: a request whose handler waits for
// a later request of the same connection is answered, whether it ran on
// the connection's reader (a quick type on an idle connection; the reading
// is then handed over) or on a goroutine of its own.
func TestNativeHandlerWaitsForLaterRequest(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	gate := make(chan struct{}, 1)
	srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		if f["message"] == "wait" {
			select {
			case <-gate:
			case <-ctx.Done():
				return binproto.NoReply, ctx.Err()
			}
		} else {
			gate <- struct{}{}
		}
		return binproto.Msg(Status, f), nil
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nativeOpts())
	ctx := testCtx(t, 5*time.Second)
	for round := range 20 { // the type is quick at first, then slow on average: both paths
		waited := make(chan error, 1)
		go func() { _, err := cl.Request(ctx, statusMsg(round, "wait")); waited <- err }()
		time.Sleep(time.Millisecond) // let the waiting request go first, most of the time
		if _, err := cl.Request(ctx, statusMsg(round, "release")); err != nil {
			t.Fatalf("round %d: the releasing request: %v", round, err)
		}
		if err := <-waited; err != nil {
			t.Fatalf("round %d: the waiting request: %v", round, err)
		}
	}
}

// TestNativeReadingHandedOver: requests that find their connection idle
// run on its reader, and one that runs long hands the reading to another
// goroutine; under a mix of quick and slow requests from several
// connections, and a Shutdown at the end, every request is answered, once,
// and (under -race) no two goroutines read one connection.
func TestNativeReadingHandedOver(t *testing.T) {
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	var mu sync.Mutex
	handled := 0
	srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		mu.Lock()
		handled++
		slow := handled%7 == 0
		mu.Unlock()
		if slow {
			time.Sleep(time.Millisecond) // past the hand-over's 500 µs
		}
		f, err := m.Fields()
		return binproto.Msg(Status, f), err
	})
	addr, _ := serveTCP(t, srv)
	ctx := testCtx(t, 20*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for c := range 4 {
		cl := dial(t, p, addr, nativeOpts())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if c%2 == 0 && i%3 == 0 {
					time.Sleep(200 * time.Microsecond) // let the connection go idle
				}
				m, err := cl.Request(ctx, statusMsg(i, "x"))
				if err != nil {
					errs <- err
					return
				}
				if f, _ := m.Fields(); f["status_code"] != uint64(i) {
					errs <- fmt.Errorf("request %d answered with %v", i, f)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if handled != 800 {
		t.Errorf("%d requests handled, want 800", handled)
	}
}
