package binproto_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/binproto/binproto"
)

// serveOnLoopback serves srv on a loopback port and returns its address.
func serveOnLoopback(srv *binproto.Server) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	return l.Addr().String()
}

// statusOf is a TypeStatus message of exampleProtocol.
func statusOf(code int, text string) binproto.Outgoing {
	return binproto.Msg(TypeStatus, map[string]any{"status_code": code, "message": text})
}

// The native profile: a handler's error reaches the caller with its code,
// the caller's deadline reaches the handler, and the connection stays.
func Example_native() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	srv := &binproto.Server{Protocol: proto} // serves both profiles on one port
	srv.HandleFunc(TypeStatus, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		if code := f["status_code"].(uint64); code >= 600 {
			return binproto.NoReply, binproto.Errorf(binproto.CodeInvalid, "status code %d out of range", code)
		}
		_, hasDeadline := ctx.Deadline() // the caller's, carried on the wire
		return statusOf(200, fmt.Sprintf("deadline seen: %v", hasDeadline)), nil
	})
	addr := serveOnLoopback(srv)
	defer srv.Shutdown(ctx)

	cl, err := binproto.Dial(ctx, proto, addr, &binproto.ClientOptions{Profile: binproto.ProfileNative})
	if err != nil {
		log.Fatal(err) // ErrNotNative, or a *ConfigMismatchError
	}
	defer cl.Close()

	_, err = cl.Request(ctx, statusOf(700, "bad"))
	var e *binproto.Error
	if errors.As(err, &e) {
		fmt.Printf("error: code %v, not processed %v, retryable %v: %s\n", e.Code, e.NotProcessed, e.Retryable(), e.Message)
	}
	fmt.Println("errors.Is(err, ErrInvalidMessage):", errors.Is(err, binproto.ErrInvalidMessage))

	m, err := cl.Request(ctx, statusOf(200, "ok")) // the same connection
	if err != nil {
		log.Fatal(err)
	}
	f, _ := m.Fields()
	fmt.Println("reply:", f["status_code"], f["message"])
	// Output:
	// error: code invalid, not processed false, retryable false: status code 700 out of range
	// errors.Is(err, ErrInvalidMessage): true
	// reply: 200 deadline seen: true
}

// MaxConcurrentStreams bounds the requests one connection runs at once:
// one more is refused, not processed, and may be retried.
func ExampleNativeOptions() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	srv := &binproto.Server{Protocol: proto, Native: binproto.NativeOptions{MaxConcurrentStreams: 1}}
	started, release := make(chan struct{}), make(chan struct{})
	srv.HandleFunc(TypeStatus, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		started <- struct{}{}
		<-release
		return statusOf(200, "done"), nil
	})
	addr := serveOnLoopback(srv)
	defer srv.Shutdown(ctx)
	cl, err := binproto.Dial(ctx, proto, addr, &binproto.ClientOptions{Profile: binproto.ProfileNative})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	first := make(chan error, 1)
	go func() { _, err := cl.Request(ctx, statusOf(1, "first")); first <- err }()
	<-started // the first request runs, and holds the only stream

	_, err = cl.Request(ctx, statusOf(2, "second"))
	var e *binproto.Error
	if errors.As(err, &e) {
		fmt.Printf("second: code %v, not processed %v, retryable %v\n", e.Code, e.NotProcessed, e.Retryable())
	}
	close(release)
	fmt.Println("first:", <-first)
	// Output:
	// second: code unavailable, not processed true, retryable true
	// first: <nil>
}

// A native client whose configuration differs from the server's fails at
// connect, naming the differences.
func ExampleConfigMismatchError() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv := &binproto.Server{Protocol: exampleProtocol()}
	addr := serveOnLoopback(srv)
	defer srv.Shutdown(ctx)

	other := binproto.MustProtocol(binproto.Config{
		Types:    map[binproto.MessageType]*binproto.Structure{TypeSensor: exampleSensorCodec.Structure()},
		Checksum: binproto.CRC32,
	})
	_, err := binproto.Dial(ctx, other, addr, &binproto.ClientOptions{Profile: binproto.ProfileNative})
	var mismatch *binproto.ConfigMismatchError
	if errors.As(err, &mismatch) {
		for _, d := range mismatch.Differences {
			fmt.Println(d)
		}
	}
	// Output:
	// checksum: local crc32, peer none
	// type 2: only the peer has it
}

// A native client of a server that speaks only the compatible profile
// (such as the Python package) fails with ErrNotNative, unless it may
// fall back.
func ExampleErrNotNative() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	compatibleOnly := &binproto.Server{Protocol: proto, Native: binproto.NativeOptions{Disable: true}}
	compatibleOnly.HandleFunc(TypeStatus, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return statusOf(200, "compatible"), nil
	})
	addr := serveOnLoopback(compatibleOnly)
	defer compatibleOnly.Shutdown(ctx)

	_, err := binproto.Dial(ctx, proto, addr, &binproto.ClientOptions{Profile: binproto.ProfileNative})
	fmt.Println("native:", errors.Is(err, binproto.ErrNotNative))

	cl, err := binproto.Dial(ctx, proto, addr, &binproto.ClientOptions{Profile: binproto.ProfileNative, Fallback: true})
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	m, err := cl.Request(ctx, statusOf(1, "hello"))
	if err != nil {
		log.Fatal(err)
	}
	f, _ := m.Fields()
	fmt.Println("with Fallback:", f["message"])
	// Output:
	// native: true
	// with Fallback: compatible
}
