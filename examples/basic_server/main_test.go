package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/examples/internal/exampletest"
	"github.com/binproto/binproto/quickstart"
)

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// server is a basic_server run.
type server struct {
	addr   string
	log    *exampletest.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

// start runs basic_server with args on a free loopback port and waits
// until a quick-start request with o is answered.
func start(t *testing.T, o quickstart.Options, args ...string) *server {
	t.Helper()
	network := "tcp"
	if o.UDP {
		network = "udp"
	}
	p, err := quickstart.Protocol(o)
	if err != nil {
		t.Fatal(err)
	}
	// The free port may be taken between freePort and run: try again then.
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s := &server{addr: freePort(t, network), log: new(exampletest.SyncBuffer), cancel: cancel, done: make(chan error, 1)}
		go func() { s.done <- run(ctx, append([]string{"-addr", s.addr}, args...), s.log) }()
		err := waitReady(ctx, p, s)
		if err == nil {
			t.Cleanup(func() { s.stop(t) })
			return s
		}
		cancel()
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("basic_server %q did not start: %v\n%s", args, err, s.log)
		}
	}
}

// waitReady sends SENSOR_DATA requests until one is echoed (UDP datagrams
// sent before the socket is bound are lost), or run fails.
func waitReady(ctx context.Context, p *binproto.Protocol, s *server) error {
	in := quickstart.Sensor{Sensor1: 1, Sensor2: 2, Sensor3: 3, Sensor4: 4}
	for {
		select {
		case err := <-s.done:
			return errors.Join(errors.New("run returned early"), err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		err := func() error {
			rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			cl, err := binproto.Dial(rctx, p, s.addr, nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			var out quickstart.Sensor
			if _, err := binproto.RequestTyped(rctx, cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &out); err != nil {
				return err
			}
			if out != in {
				return errors.New("echo differs")
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop cancels run's context, as SIGINT does, and checks that it returns
// nil after a graceful shutdown.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run after its context ended: %v\n%s", err, s.log)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of its context ending")
	}
}

func TestServeQuickStart(t *testing.T) {
	for _, c := range []struct {
		name string
		o    quickstart.Options
		args []string
	}{
		{"tcp", quickstart.Options{}, nil},
		{"checksum", quickstart.Options{Checksum: true}, []string{"-checksum"}},
		{"udp", quickstart.Options{UDP: true}, []string{"-udp"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, c.o, c.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p, err := quickstart.Protocol(c.o)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := binproto.Dial(ctx, p, s.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			status := map[string]any{"status_code": uint64(200), "message": "héllo ✓"}
			m, err := cl.Request(ctx, binproto.Msg(quickstart.Status, status))
			if err != nil {
				t.Fatal(err)
			}
			back, err := m.Fields()
			if err != nil || back["status_code"] != status["status_code"] || back["message"] != status["message"] {
				t.Fatalf("STATUS echo %v, %v; sent %v", back, err, status)
			}
			blob := quickstart.Blob{Data: bytes.Repeat([]byte{0, 1, 0xff}, 100)}
			var blobBack quickstart.Blob
			if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.Benchmark, quickstart.BlobCodec, &blob), quickstart.BlobCodec, &blobBack); err != nil || !bytes.Equal(blob.Data, blobBack.Data) {
				t.Fatalf("BENCHMARK echo: %v", err)
			}
			cl.Close()
			s.stop(t)
			log := s.log.String()
			wantUDP := "udp=" + map[bool]string{true: "true", false: "false"}[c.o.UDP]
			if !strings.Contains(log, `msg="serving the quick-start protocol" addr=`+s.addr) || !strings.Contains(log, wantUDP) ||
				!strings.Contains(log, "msg=stopped") {
				t.Fatalf("log:\n%s", log)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-addr", busy.Addr().String()}, "address already in use"},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-tls-cert", missing}, "-tls-cert and -tls-key must be given together"},
		{[]string{"-udp", "-tls-cert", missing, "-tls-key", missing}, "-udp cannot be combined with TLS"},
		{[]string{"-addr", "127.0.0.1:0", "-tls-cert", missing, "-tls-key", missing}, missing},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var log exampletest.SyncBuffer
		err := run(ctx, c.args, &log)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %q = %v, want an error with %q", c.args, err, c.want)
		}
	}
}
