package binproto_test

import (
	"errors"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
)

// TestTLSHandshakeTimeoutIsReadTimeout: a TLS client that connects and
// never says hello is closed as a read timeout, not an idle one.
func TestTLSHandshakeTimeoutIsReadTimeout(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) { c.ReadTimeout = 200 * time.Millisecond })
	srv := &binproto.Server{Protocol: p, TLSConfig: serverTLS(t)}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	nc := rawDial(t, addr)
	readUntilEOF(t, nc, 3*time.Second)
	waitFor(t, 2*time.Second, "read_timeout close", func() bool { return closeCount(srv, binproto.CloseReadTimeout) == 1 })
	if n := closeCount(srv, binproto.CloseIdleTimeout); n != 0 {
		t.Errorf("%d idle_timeout closes, want 0", n)
	}
}

// TestDialUDPWithTLSIsConfigError: TLS is never silently dropped.
func TestDialUDPWithTLSIsConfigError(t *testing.T) {
	p := quickProto(t, func(c *binproto.Config) { c.Transport = binproto.UDP })
	_, err := binproto.Dial(testCtx(t, 2*time.Second), p, "127.0.0.1:9", &binproto.ClientOptions{TLSConfig: clientTLS(t)})
	var ce *binproto.ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, binproto.ErrInvalidConfig) {
		t.Fatalf("Dial UDP with TLS: %v, want a *ConfigError", err)
	}
}

// TestCodecLayoutMismatch: a codec with the configured structure's size and
// field count but another layout is refused instead of sending wrong bytes.
func TestCodecLayoutMismatch(t *testing.T) {
	type swapped struct {
		A uint16 `binproto:"a,>H"`
		B uint32 `binproto:"b,<I"`
	}
	configured := binproto.MustStructure(schema.Num("b", ">I"), schema.Num("a", ">H"))
	p := binproto.MustProtocol(binproto.Config{Types: map[binproto.MessageType]*binproto.Structure{1: configured}})
	c := binproto.MustCodec[swapped]()
	if _, err := p.AppendFrame(nil, binproto.Typed(1, c, &swapped{1, 2})); !errors.Is(err, binproto.ErrStructureMismatch) {
		t.Fatalf("AppendFrame with a mismatched codec: %v, want ErrStructureMismatch", err)
	}
	same := binproto.MustCodec[struct {
		X uint32 `binproto:"x,>I"`
		Y uint16 `binproto:"y,>H"`
	}]()
	v := struct {
		X uint32 `binproto:"x,>I"`
		Y uint16 `binproto:"y,>H"`
	}{7, 8}
	if _, err := p.AppendFrame(nil, binproto.Typed(1, same, &v)); err != nil {
		t.Fatalf("AppendFrame with a codec of the same layout: %v", err)
	}
}
