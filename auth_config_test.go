package binproto_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// refusesToServe runs serve, which must return a *ConfigError with the text
// want at once; if it serves instead, stop stops it.
func refusesToServe(t *testing.T, what string, want string, serve func() error, stop func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		var ce *binproto.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, binproto.ErrInvalidConfig) || ce.Option != "Server.Auth" {
			t.Fatalf("%s: %v, want a *ConfigError for Server.Auth", what, err)
		}
		if err.Error() != want {
			t.Errorf("%s:\n got %q\nwant %q", what, err.Error(), want)
		}
	case <-time.After(2 * time.Second):
		stop()
		<-errc
		t.Fatalf("%s: served instead of refusing", what)
	}
}

// TestAuthTypesNotInProtocol: a built-in authenticator whose message types
// the Protocol does not know could authenticate no one (every client would
// get the not-found reply), so Serve and ListenAndServe refuse it.
func TestAuthTypesNotInProtocol(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) {
		binproto.AuthTypes{Token: 10, Challenge: 11}.Register(c.Types) // no OK, no Response
	})
	const prefix = "binproto: invalid config: Server.Auth: "
	const notIn = ", which is not in Config.Types (AuthTypes.Register adds it)"
	secret := binproto.SharedSecret([]byte("k"))
	cases := []struct {
		name string
		auth binproto.Authenticator
		want string
	}{
		{"token type missing", &binproto.TokenAuth{Types: binproto.AuthTypes{Token: 100, OK: 10}},
			prefix + "TokenAuth.Types.Token is message type 100" + notIn},
		{"OK type missing", &binproto.TokenAuth{Types: binproto.AuthTypes{Token: 10, OK: 13}},
			prefix + "TokenAuth.Types.OK is message type 13" + notIn},
		{"OK type is not-found", &binproto.TokenAuth{Types: binproto.AuthTypes{Token: 10, OK: p.NotFound()}},
			prefix + fmt.Sprintf("TokenAuth.Types.OK is message type %d, the not-found type", p.NotFound())},
		{"OK type unset", &binproto.TokenAuth{Types: binproto.AuthTypes{Token: 10}},
			prefix + "TokenAuth.Types.OK is not set"},
		{"response type missing", &binproto.HMACAuth{Types: binproto.AuthTypes{Challenge: 11, Response: 12, OK: 10}, Secret: secret},
			prefix + "HMACAuth.Types.Response is message type 12" + notIn},
		{"no secret", &binproto.HMACAuth{Types: binproto.AuthTypes{Challenge: 11, Response: 10, OK: 10}},
			prefix + "HMACAuth.Secret is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := &binproto.Server{Protocol: p, Auth: c.auth}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			refusesToServe(t, "Serve", c.want, func() error { return srv.Serve(l) }, func() { srv.Close() })
			if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
				t.Error("the listener of a refused Serve still accepts")
			}
			srv = &binproto.Server{Protocol: p, Auth: c.auth}
			refusesToServe(t, "ListenAndServe", c.want, func() error { return srv.ListenAndServe("127.0.0.1:0") }, func() { srv.Close() })
		})
	}
}

// lockedBuffer is a bytes.Buffer for a logger and a test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAuthTypesNotInProtocolServeConn: ServeConn, which returns nothing,
// closes the connection at once and logs why.
func TestAuthTypesNotInProtocolServeConn(t *testing.T) {
	checkGoroutines(t)
	var log lockedBuffer
	srv := &binproto.Server{
		Protocol: quickProto(t, nil),
		Auth:     &binproto.TokenAuth{Types: binproto.AuthTypes{Token: 100, OK: 101}, Tokens: map[string]string{"t": "a"}},
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
	}
	server, client := net.Pipe()
	defer client.Close()
	done := make(chan struct{})
	go func() { srv.ServeConn(server); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		srv.Close()
		<-done
		t.Fatal("ServeConn served a server whose Auth Serve refuses")
	}
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("client read: %v, want EOF (the server closed its end)", err)
	}
	want := `level=ERROR msg="binproto: connection refused"`
	reason := "invalid config: Server.Auth: TokenAuth.Types.Token is message type 100, which is not in Config.Types"
	if got := log.String(); !strings.Contains(got, want) || !strings.Contains(got, reason) {
		t.Errorf("log %q lacks %q and %q", got, want, reason)
	}
}
