package binproto_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// fuzzServers are the servers FuzzServerStream feeds, picked by the first
// argument: plain echo; token authentication; HMAC authentication (a
// challenge is pushed first); validators, rate limits and concurrent
// handlers with refusals answered.
type fuzzServer struct {
	srv  *binproto.Server
	auth binproto.ClientAuthenticator
}

func newFuzzServers(t testing.TB) (*binproto.Protocol, []fuzzServer) {
	p := authProto(t, func(c *binproto.Config) {
		c.ReadTimeout = time.Second
		c.WriteTimeout = time.Second
		c.MaxPayloadSize = 64 << 10
	})
	mk := func(setup func(*binproto.Server)) *binproto.Server {
		s := &binproto.Server{Protocol: p, AuthTimeout: time.Second}
		registerEcho(s)
		s.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			f, err := m.Fields()
			if err == nil && string(f["data"].([]byte)) == "panic" {
				panic("fuzz")
			}
			return binproto.Msg(Benchmark, f), err
		})
		if setup != nil {
			setup(s)
		}
		return s
	}
	refuse := binproto.Refusal{Action: binproto.ActionReply, Reply: func(*binproto.Message, error) binproto.Outgoing {
		return statusMsg(400, "no")
	}}
	return p, []fuzzServer{
		{srv: mk(nil)},
		{srv: mk(func(s *binproto.Server) { s.Auth = tokenAuth() }), auth: tokenCreds(aliceToken).Auth},
		{srv: mk(func(s *binproto.Server) { s.Auth = hmacAuth() }), auth: hmacCreds("carol", hmacSecret).Auth},
		{srv: mk(func(s *binproto.Server) {
			s.MaxConcurrentHandlers = 3
			s.RateLimit = binproto.RateLimit{ConnMessageRate: 1000, ConnByteRate: 1 << 20, OnExceed: refuse}
			s.OnInvalid = refuse
			s.Validate(Status, func(m *binproto.Message) error {
				if f, err := m.Fields(); err != nil || f["status_code"] == uint64(7) {
					return errors.New("refused")
				}
				return nil
			})
		})},
	}
}

// FuzzServerStream writes arbitrary bytes to a server over net.Pipe, as a
// client would, and checks that the server neither panics nor hangs, and
// still serves a well-behaved client afterwards. Seeds are the golden
// vectors' frames and frames of the quick-start and authentication types.
func FuzzServerStream(f *testing.F) {
	p, servers := newFuzzServers(f)
	for _, v := range loadVectors(f) {
		f.Add(byte(0), v.raw)
	}
	frame := func(o binproto.Outgoing) []byte {
		b, err := p.AppendFrame(nil, o)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	status := frame(statusMsg(1, "hello"))
	token := frame(binproto.Msg(authTypes.Token, map[string]any{"token": []byte(aliceToken)}))
	bench := frame(binproto.Msg(Benchmark, map[string]any{"data": []byte("panic")}))
	sensor := frame(binproto.Typed(SensorData, sensorCodec, &sensor{1, 2, 3, 4}))
	for mode := range byte(len(servers)) {
		f.Add(mode, status)
		f.Add(mode, append(append([]byte{}, token...), status...))
		f.Add(mode, append(append(append([]byte{}, token...), sensor...), bench...))
		f.Add(mode, binary.BigEndian.AppendUint32([]byte{0, byte(Benchmark)}, 0xFFFFFFFF))
		f.Add(mode, frame(statusMsg(7, "invalid")))
		f.Add(mode, []byte{0xFF, 0xFF, 0, 99})
	}
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		fs := servers[int(mode)%len(servers)]
		feed(t, fs.srv, data)
		// The server still serves.
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() { fs.srv.ServeConn(a); close(done) }()
		cl := binproto.NewClient(p, b, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if fs.auth != nil {
			if err := fs.auth.Authenticate(ctx, cl); err != nil {
				t.Fatalf("authenticating after the input: %v", err)
			}
		}
		if err := checkStatusEcho(ctx, cl, 2); err != nil {
			t.Fatalf("serving after the input: %v", err)
		}
		cl.Close()
		<-done
	})
}

// feed writes data to a new connection of srv, reading whatever it answers,
// then closes it and waits for the server to let go of it.
func feed(t *testing.T, srv *binproto.Server, data []byte) {
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(a); close(done) }()
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, b); close(drained) }()
	b.SetWriteDeadline(time.Now().Add(5 * time.Second))
	b.Write(data)
	b.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not let go of a closed connection")
	}
	<-drained
}
