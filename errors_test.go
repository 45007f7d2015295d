package binproto_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
)

// checkError asserts err's exact text and that it matches every one of is.
func checkError(t *testing.T, what string, err error, want string, is ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %q", what, want)
	}
	if err.Error() != want {
		t.Errorf("%s:\n got %q\nwant %q", what, err.Error(), want)
	}
	for _, target := range is {
		if !errors.Is(err, target) {
			t.Errorf("%s: errors.Is(err, %v) = false", what, target)
		}
	}
}

// TestAuthFailedErrorText: a client whose authentication ends with the
// connection reads "authentication failed: connection closed", with one
// "binproto:" prefix, and matches both ErrAuthFailed and ErrConnClosed.
func TestAuthFailedErrorText(t *testing.T) {
	checkGoroutines(t)
	p := authProto(t, nil)
	srv := &binproto.Server{Protocol: p, Auth: tokenAuth()}
	server, client := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(server); close(done) }()
	cl := binproto.NewClient(p, client, nil)
	err := binproto.TokenCredentials{Types: authTypes, Token: []byte("wrong")}.Authenticate(testCtx(t, 5*time.Second), cl)
	checkError(t, "TokenCredentials with a wrong token", err,
		"binproto: authentication failed: connection closed: EOF", binproto.ErrAuthFailed, binproto.ErrConnClosed, io.EOF)
	cl.Close()
	<-done

	// A server that hangs up before its HMAC challenge.
	server, client = net.Pipe()
	server.Close()
	cl = binproto.NewClient(p, client, nil)
	defer cl.Close()
	err = binproto.HMACCredentials{Types: authTypes, Secret: hmacSecret}.Authenticate(testCtx(t, 5*time.Second), cl)
	if err == nil || !errors.Is(err, binproto.ErrAuthFailed) || !errors.Is(err, binproto.ErrConnClosed) {
		t.Fatalf("HMACCredentials against a closed connection: %v", err)
	}
	// The connection closed with io.EOF or net.ErrClosed, depending on
	// which the read loop met first.
	want := "binproto: authentication failed: waiting for the challenge: connection closed"
	if errors.Is(err, io.EOF) {
		want += ": EOF"
	}
	checkError(t, "HMACCredentials against a closed connection", err, want)
}

// TestMessageErrorText: an encoding error names the message type after a
// single "binproto:" prefix, then the field.
func TestMessageErrorText(t *testing.T) {
	p := quickProto(t, nil)
	_, err := p.AppendFrame(nil, binproto.Msg(Status, map[string]any{"status_code": "x", "message": "m"}))
	checkError(t, "wrong value type", err,
		`binproto: message type 2: field "status_code": wrong value type: got string, want a number for ">I"`, schema.ErrType)
	var fe *schema.FieldError
	if !errors.As(err, &fe) || fe.Field != "status_code" {
		t.Errorf("errors.As(*schema.FieldError): %v", err)
	}
	_, err = p.AppendFrame(nil, binproto.Msg(Status, map[string]any{"status_code": -1, "message": "m"}))
	checkError(t, "value out of range", err,
		`binproto: message type 2: field "status_code": value out of range: -1 does not fit ">I" (0..4294967295)`, binproto.ErrRange)
	_, err = p.AppendFrame(nil, binproto.Msg(Status, map[string]any{"message": "m"}))
	checkError(t, "missing field", err, `binproto: message type 2: field "status_code": missing field`, schema.ErrMissingField)
}

// TestTooLargeErrorText: a payload over MaxPayloadSize is reported with its
// message type and both sizes, when encoding and when parsing.
func TestTooLargeErrorText(t *testing.T) {
	p := quickProto(t, func(c *binproto.Config) { c.MaxPayloadSize = 1 << 20 })
	const want = "binproto: message type 3: payload of 2097152 bytes exceeds the maximum of 1048576"
	// The data field's 4-byte length prefix makes the payload 2 MiB.
	_, err := p.AppendFrame(nil, binproto.Msg(Benchmark, map[string]any{"data": make([]byte, 2<<20-4)}))
	checkError(t, "AppendFrame", err, want, binproto.ErrTooLarge)
	_, err = p.ParseFrame([]byte{0, 3, 0x00, 0x20, 0x00, 0x00}) // type 3 (">H"), length 2 MiB
	checkError(t, "ParseFrame", err, want, binproto.ErrTooLarge)
}

// TestConfigErrorText: a ConfigError's cause does not repeat the prefix.
func TestConfigErrorText(t *testing.T) {
	_, err := binproto.NewProtocol(binproto.Config{HeaderFormat: ">B", NotFoundType: 300, Types: quickTypes()})
	checkError(t, "NotFoundType over the header format", err,
		`binproto: invalid config: NotFoundType: 300 does not fit header format ">B": value out of range: 300 does not fit ">B" (0..255)`,
		binproto.ErrInvalidConfig, binproto.ErrRange)
}
