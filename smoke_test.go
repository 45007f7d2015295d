package binproto_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

type sensor struct {
	S1 float32 `binproto:"sensor1,>f"`
	S2 float32 `binproto:"sensor2,>f"`
	S3 float32 `binproto:"sensor3,>f"`
	S4 float32 `binproto:"sensor4,>f"`
}

func TestSmoke(t *testing.T) {
	sc := mustCodec[sensor]()
	st, _ := binproto.NewStructure(binproto.Field{Name: "code", Kind: 1, Format: ">I"}, binproto.Field{Name: "message", Kind: 2})
	p := binproto.MustProtocol(binproto.Config{Types: map[binproto.MessageType]*binproto.Structure{1: sc.Structure(), 2: st}})
	srv := &binproto.Server{Protocol: p}
	binproto.HandleTyped(srv, 1, sc, func(ctx context.Context, c *binproto.Conn, s *sensor) (binproto.Outgoing, error) {
		return binproto.Typed(1, sc, s), nil
	})
	srv.HandleFunc(2, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		return binproto.Msg(2, f), err
	})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := binproto.Dial(ctx, p, l.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := sensor{1, 2, 3, 4}
	var out sensor
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(1, sc, &in), sc, &out); err != nil || out != in {
		t.Fatal(err, out)
	}
	m, err := cl.Request(ctx, binproto.Msg(2, map[string]any{"code": 200, "message": "hi"}))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := m.Fields()
	t.Log(f)
	cl.Close()
	srv.Shutdown(ctx)
}

func mustCodec[T any]() *binproto.Codec[T] {
	c, err := binproto.NewCodec[T]()
	if err != nil {
		panic(err)
	}
	return c
}
