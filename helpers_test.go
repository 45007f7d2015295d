package binproto_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/internal/golden"
	"github.com/binproto/binproto/schema"
)

// The quick-start protocol of the Python package.
const (
	SensorData     binproto.MessageType = 1 // four ">f"
	Status         binproto.MessageType = 2 // ">I" status_code + str message
	Benchmark      binproto.MessageType = 3 // variable bytes data
	FixedBenchmark binproto.MessageType = 4 // ">I" value
)

type sensor struct {
	S1 float32 `binproto:"sensor1,>f"`
	S2 float32 `binproto:"sensor2,>f"`
	S3 float32 `binproto:"sensor3,>f"`
	S4 float32 `binproto:"sensor4,>f"`
}

type status struct {
	Code    uint32 `binproto:"status_code,>I"`
	Message string `binproto:"message"`
}

type benchData struct {
	Data []byte `binproto:"data"`
}

type fixedBench struct {
	Value uint32 `binproto:"value,>I"`
}

var (
	sensorCodec = schema.MustCodec[sensor]()
	statusCodec = schema.MustCodec[status]()
	benchCodec  = schema.MustCodec[benchData]()
	fixedCodec  = schema.MustCodec[fixedBench]()
)

// quickTypes returns the quick-start types, built from dynamic fields (the
// codecs above must agree with them).
func quickTypes() map[binproto.MessageType]*binproto.Structure {
	return map[binproto.MessageType]*binproto.Structure{
		SensorData: schema.MustStructure(schema.Float32("sensor1"), schema.Float32("sensor2"),
			schema.Float32("sensor3"), schema.Float32("sensor4")),
		Status:         schema.MustStructure(schema.Uint32("status_code"), schema.Str("message")),
		Benchmark:      schema.MustStructure(schema.Bytes("data")),
		FixedBenchmark: schema.MustStructure(schema.Uint32("value")),
	}
}

// quickProto returns the quick-start protocol; mod, if not nil, adjusts the
// config first.
func quickProto(t testing.TB, mod func(*binproto.Config)) *binproto.Protocol {
	t.Helper()
	cfg := binproto.Config{Types: quickTypes()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := binproto.NewProtocol(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// registerEcho makes srv echo every quick-start type: sensor and fixed
// benchmark typed, status and benchmark dynamic.
func registerEcho(srv *binproto.Server) {
	binproto.HandleTyped(srv, SensorData, sensorCodec, func(_ context.Context, _ *binproto.Conn, s *sensor) (binproto.Outgoing, error) {
		return binproto.Typed(SensorData, sensorCodec, s), nil
	})
	binproto.HandleTyped(srv, FixedBenchmark, fixedCodec, func(_ context.Context, _ *binproto.Conn, v *fixedBench) (binproto.Outgoing, error) {
		return binproto.Typed(FixedBenchmark, fixedCodec, v), nil
	})
	dyn := func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		return binproto.Msg(m.Type, f), nil
	}
	srv.HandleFunc(Status, dyn)
	srv.HandleFunc(Benchmark, dyn)
}

func statusMsg(code int, msg string) binproto.Outgoing {
	return binproto.Msg(Status, map[string]any{"status_code": code, "message": msg})
}

// testCtx returns a context bounded by d and cancelled when the test ends.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkGoroutines records the goroutine count now and, when the test ends
// (after every cleanup registered later), waits up to 2 s for it to come
// back down, failing with a dump of the goroutines if it does not.
func checkGoroutines(t testing.TB) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines, %d at start\n%s", n, base, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// serveTCP serves srv on a loopback listener until the test ends; at the
// end it closes srv and checks that Serve returned ErrServerClosed. wait
// waits up to 2 s for Serve to return and returns its error.
func serveTCP(t testing.TB, srv *binproto.Server) (addr string, wait func() error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var serveErr error
	go func() { serveErr = srv.Serve(l); close(done) }()
	wait = func() error {
		select {
		case <-done:
			return serveErr
		case <-time.After(2 * time.Second):
			return errors.New("Serve did not return within 2s")
		}
	}
	t.Cleanup(func() {
		srv.Close()
		if err := wait(); !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String(), wait
}

// dial dials addr and closes the client when the test ends.
func dial(t testing.TB, p *binproto.Protocol, addr string, opts *binproto.ClientOptions) *binproto.Client {
	t.Helper()
	cl, err := binproto.Dial(testCtx(t, 5*time.Second), p, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// rawDial opens a plain TCP connection with a deadline, closed at the end.
func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return nc
}

// readUntilEOF reads nc until EOF (or a reset) and returns what it read; a
// timeout fails the test.
func readUntilEOF(t testing.TB, nc net.Conn, d time.Duration) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(d))
	var buf bytes.Buffer
	_, err := io.Copy(&buf, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection not closed within %v (read %x)", d, buf.Bytes())
	}
	return buf.Bytes()
}

// connKind is one kind of connection a client and server talk over.
type connKind string

const (
	kindPipe connKind = "pipe"
	kindTCP  connKind = "tcp"
	kindTLS  connKind = "tls"
)

var allKinds = []connKind{kindPipe, kindTCP, kindTLS}

// env is a server and a way to connect clients to it over one kind of
// connection.
type env struct {
	kind  connKind
	proto *binproto.Protocol
	srv   *binproto.Server
	addr  string // "" for pipes
}

// forEachKind runs f as a subtest over net.Pipe, TCP and TLS with a server
// for p set up by setup (handlers, options). The server is closed and the
// goroutines checked when each subtest ends.
func forEachKind(t *testing.T, p *binproto.Protocol, setup func(*binproto.Server), f func(t *testing.T, e *env)) {
	for _, k := range allKinds {
		t.Run(string(k), func(t *testing.T) {
			checkGoroutines(t)
			e := &env{kind: k, proto: p, srv: &binproto.Server{Protocol: p}}
			setup(e.srv)
			if k == kindTLS {
				e.srv.TLSConfig = serverTLS(t)
			}
			if k != kindPipe {
				e.addr, _ = serveTCP(t, e.srv)
			}
			f(t, e)
		})
	}
}

// client connects a new client to e's server.
func (e *env) client(t testing.TB, opts *binproto.ClientOptions) *binproto.Client {
	t.Helper()
	if opts == nil {
		opts = &binproto.ClientOptions{}
	}
	switch e.kind {
	case kindPipe:
		a, b := net.Pipe()
		served := make(chan struct{})
		go func() { e.srv.ServeConn(a); close(served) }()
		cl := binproto.NewClient(e.proto, b, opts)
		t.Cleanup(func() {
			cl.Close()
			select {
			case <-served:
			case <-time.After(2 * time.Second):
				t.Error("ServeConn did not return after the client closed")
			}
		})
		return cl
	case kindTLS:
		o := *opts
		o.TLSConfig = clientTLS(t)
		return dial(t, e.proto, e.addr, &o)
	}
	return dial(t, e.proto, e.addr, opts)
}

// Test certificates, generated once per run: a CA and a leaf for 127.0.0.1
// and ::1.
var (
	certOnce sync.Once
	certErr  error
	leafCert tls.Certificate
	caPool   *x509.CertPool
)

func makeCerts() {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		certErr = err
		return
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "binproto test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		certErr = err
		return
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		certErr = err
		return
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "binproto test server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		certErr = err
		return
	}
	leafCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	caPool = x509.NewCertPool()
	caPool.AddCert(ca)
}

func serverTLS(t testing.TB) *tls.Config {
	t.Helper()
	certOnce.Do(makeCerts)
	if certErr != nil {
		t.Fatal(certErr)
	}
	return &tls.Config{Certificates: []tls.Certificate{leafCert}}
}

func clientTLS(t testing.TB) *tls.Config {
	t.Helper()
	certOnce.Do(makeCerts)
	if certErr != nil {
		t.Fatal(certErr)
	}
	return &tls.Config{RootCAs: caPool}
}

// closeCount returns how many server connections closed for reason r.
func closeCount(srv *binproto.Server, r binproto.CloseReason) uint64 {
	return srv.Stats().Closes[r]
}

// vector is one golden vector of testdata/golden_vectors.jsonl, with its
// frame bytes decoded.
type vector struct {
	*golden.Vector
	raw []byte
}

func loadVectors(t testing.TB) map[string]*vector {
	t.Helper()
	all, err := golden.Load("testdata/golden_vectors.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	vs := make(map[string]*vector, len(all))
	for _, gv := range all {
		v := &vector{Vector: gv}
		if gv.Hex != nil {
			if v.raw, err = hex.DecodeString(*gv.Hex); err != nil {
				t.Fatalf("%s: %v", v.ID, err)
			}
		}
		vs[v.ID] = v
	}
	return vs
}

// protocol builds the protocol a vector was encoded with: its header
// format, checksum and structure as message type MsgType.
func (v *vector) protocol(t testing.TB) *binproto.Protocol {
	t.Helper()
	var fields []binproto.Field
	for _, f := range v.Structure {
		n := f.Fixed()
		switch f.Type {
		case "str":
			fields = append(fields, binproto.Field{Name: f.Name, Kind: schema.KindString, FixedLength: n})
		case "bytes":
			fields = append(fields, binproto.Field{Name: f.Name, Kind: schema.KindBytes, FixedLength: n})
		default:
			fields = append(fields, binproto.Field{Name: f.Name, Kind: schema.KindNumber, Format: f.Format})
		}
	}
	s, err := binproto.NewStructure(fields...)
	if err != nil {
		t.Fatalf("%s: %v", v.ID, err)
	}
	cfg := binproto.Config{
		Types:        map[binproto.MessageType]*binproto.Structure{binproto.MessageType(v.MsgType): s},
		HeaderFormat: v.Config.HeaderFormat,
	}
	if v.Config.Checksum != nil {
		if *v.Config.Checksum != "crc32_be4" {
			t.Fatalf("%s: unknown checksum %q", v.ID, *v.Config.Checksum)
		}
		cfg.Checksum = binproto.CRC32
	}
	p, err := binproto.NewProtocol(cfg)
	if err != nil {
		t.Fatalf("%s: %v", v.ID, err)
	}
	return p
}

// watchedConn is a client's net.Conn that tells the test what the client
// is doing with it: whether a Read is blocked, and how many bytes it wrote.
type watchedConn struct {
	net.Conn
	read    atomic.Int64 // bytes read so far
	readAt  atomic.Int64 // read when the Read in progress began; -1 when none is
	written atomic.Int64 // bytes written so far
}

func newWatchedConn(nc net.Conn) *watchedConn {
	w := &watchedConn{Conn: nc}
	w.readAt.Store(-1)
	return w
}

func (w *watchedConn) Read(b []byte) (int, error) {
	w.readAt.Store(w.read.Load())
	n, err := w.Conn.Read(b)
	w.read.Add(int64(n))
	w.readAt.Store(-1)
	return n, err
}

func (w *watchedConn) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	w.written.Add(int64(n))
	return n, err
}

// readingAfter reports whether a Read is in progress that began once n
// bytes had been read (the client holds one reader at a time).
func (w *watchedConn) readingAfter(n int) bool { return w.readAt.Load() >= int64(n) }

// dialWatched connects a client to addr over TCP through a watchedConn.
func dialWatched(t testing.TB, p *binproto.Protocol, addr string) (*binproto.Client, *watchedConn) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w := newWatchedConn(nc)
	cl := binproto.NewClient(p, w, nil)
	t.Cleanup(func() { cl.Close() })
	return cl, w
}
