package binproto_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// The message types the tests reserve for authentication.
var authTypes = binproto.AuthTypes{Token: 10, Challenge: 11, Response: 12, OK: 13}

// authProto is the quick-start protocol plus the authentication types.
func authProto(t testing.TB, mod func(*binproto.Config)) *binproto.Protocol {
	t.Helper()
	return quickProto(t, func(c *binproto.Config) {
		authTypes.Declare(c)
		if mod != nil {
			mod(c)
		}
	})
}

// guarded is a server under attack: quick-start echo, plus a Benchmark
// handler that counts its calls (the attackers' type; bystanders use
// Status) and answers the data "whoami" with the connection's identity.
type guarded struct {
	p     *binproto.Protocol
	srv   *binproto.Server
	addr  string
	calls atomic.Int64
}

// guardedServer starts a guarded server for authProto(mod), with setup
// applied before it serves, and checks for leaks when the test ends.
func guardedServer(t *testing.T, mod func(*binproto.Config), setup func(*binproto.Server)) *guarded {
	t.Helper()
	checkLeaks(t)
	g := &guarded{p: authProto(t, mod)}
	g.srv = &binproto.Server{Protocol: g.p}
	registerEcho(g.srv)
	g.srv.HandleFunc(Benchmark, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		g.calls.Add(1)
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		if string(f["data"].([]byte)) == "whoami" {
			id, ok := binproto.IdentityFrom(ctx)
			cid, cok := m.Conn.Identity()
			if ok != cok || id.Name != cid.Name {
				return binproto.NoReply, errors.New("IdentityFrom and Conn.Identity disagree")
			}
			f["data"] = []byte(fmt.Sprintf("%s:%s:%v", id.Method, id.Name, ok))
		}
		return binproto.Msg(Benchmark, f), nil
	})
	if setup != nil {
		setup(g.srv)
	}
	g.addr, _ = serveTCP(t, g.srv)
	return g
}

// whoami asks the server who cl authenticated as.
func whoami(t testing.TB, cl *binproto.Client) string {
	t.Helper()
	m, err := cl.Request(testCtx(t, 5*time.Second), binproto.Msg(Benchmark, map[string]any{"data": []byte("whoami")}))
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	f, _ := m.Fields()
	return string(f["data"].([]byte))
}

// The test tokens, at least 16 bytes long (MinTokenLength).
const (
	aliceToken     = "s3cret-token-of-alice"
	bystanderToken = "bystander-token-of-bob"
)

var testTokens = map[string]string{aliceToken: "alice", bystanderToken: "bob"}

func tokenAuth() *binproto.TokenAuth {
	return &binproto.TokenAuth{Types: authTypes, Tokens: testTokens}
}

func tokenCreds(tok string) *binproto.ClientOptions {
	return &binproto.ClientOptions{Auth: binproto.TokenCredentials{Types: authTypes, Token: []byte(tok)}}
}

var hmacSecret = []byte("a shared HMAC secret")

func hmacAuth() *binproto.HMACAuth {
	return &binproto.HMACAuth{Types: authTypes, Secret: func(id string) ([]byte, bool) {
		if id == "carol" || id == "bystander" {
			return hmacSecret, true
		}
		return nil, false
	}}
}

func hmacCreds(id string, secret []byte) *binproto.ClientOptions {
	return &binproto.ClientOptions{Auth: binproto.HMACCredentials{Types: authTypes, ClientID: id, Secret: secret}}
}

func TestTokenAuth(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth = tokenAuth() })
	startBystander(t, g.p, g.addr, tokenCreds(bystanderToken))
	if got := whoami(t, dial(t, g.p, g.addr, tokenCreds(aliceToken))); got != "token:alice:true" {
		t.Errorf("identity %q, want token:alice:true", got)
	}
	calls := g.calls.Load()
	for i, tok := range []string{"wrong", "", aliceToken + "\x00", aliceToken[:len(aliceToken)-1]} {
		_, err := binproto.Dial(testCtx(t, 5*time.Second), g.p, g.addr, tokenCreds(tok))
		if !errors.Is(err, binproto.ErrAuthFailed) {
			t.Fatalf("token %q: %v, want ErrAuthFailed", tok, err)
		}
		waitClose(t, g.srv, binproto.CloseAuthFailed, uint64(i+1))
	}
	if g.calls.Load() != calls {
		t.Error("a handler ran for a connection that failed to authenticate")
	}
	if s := g.srv.Stats(); s.Authenticated != 2 {
		t.Errorf("Stats.Authenticated = %d, want 2", s.Authenticated)
	}
}

func TestHMACAuth(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth = hmacAuth() })
	startBystander(t, g.p, g.addr, hmacCreds("bystander", hmacSecret))
	if got := whoami(t, dial(t, g.p, g.addr, hmacCreds("carol", hmacSecret))); got != "hmac:carol:true" {
		t.Errorf("identity %q, want hmac:carol:true", got)
	}
	for i, c := range []struct {
		id     string
		secret []byte
	}{
		{"carol", []byte("wrong secret")}, {"mallory", hmacSecret}, {"", hmacSecret},
		// An unknown id gets no secret (nil) from Secret: a client that
		// answers with the MAC of an empty key must not pass for it.
		{"mallory", nil}, {"mallory", []byte{}}, {"", nil},
	} {
		_, err := binproto.Dial(testCtx(t, 5*time.Second), g.p, g.addr, hmacCreds(c.id, c.secret))
		if !errors.Is(err, binproto.ErrAuthFailed) {
			t.Fatalf("client %q: %v, want ErrAuthFailed", c.id, err)
		}
		waitClose(t, g.srv, binproto.CloseAuthFailed, uint64(i+1))
	}
	// A token client talking to an HMAC server fails: its first message is
	// not the response.
	if _, err := binproto.Dial(testCtx(t, 5*time.Second), g.p, g.addr, tokenCreds(aliceToken)); !errors.Is(err, binproto.ErrAuthFailed) {
		t.Fatalf("token client of an HMAC server: %v", err)
	}
}

// TestAuthMultiStep: a custom two-step exchange through AuthFunc, and no
// server handler on the way.
func TestAuthMultiStep(t *testing.T) {
	step := func(want string, next binproto.AuthStep, id *binproto.Identity) binproto.AuthStep {
		return func(_ context.Context, m *binproto.Message) (binproto.AuthResult, error) {
			f, err := m.Fields()
			if err != nil || m.Type != authTypes.Token || string(f["token"].([]byte)) != want {
				return binproto.AuthResult{}, fmt.Errorf("step %q failed", want)
			}
			if id != nil {
				return binproto.AuthResult{Identity: id, Reply: binproto.Msg(authTypes.OK, nil)}, nil
			}
			return binproto.AuthResult{Next: next}, nil
		}
	}
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.Auth = binproto.AuthFunc(func(context.Context, *binproto.Conn) (binproto.AuthResult, error) {
			return binproto.AuthResult{Next: step("one", step("two", nil, &binproto.Identity{Method: "custom", Name: "dave"}), nil)}, nil
		})
	})
	send := func(ctx context.Context, cl *binproto.Client) error {
		if err := cl.Send(ctx, binproto.Msg(authTypes.Token, map[string]any{"token": []byte("one")})); err != nil {
			return err
		}
		m, err := cl.Request(ctx, binproto.Msg(authTypes.Token, map[string]any{"token": []byte("two")}))
		if err == nil && m.Type != authTypes.OK {
			err = fmt.Errorf("reply type %d", m.Type)
		}
		return err
	}
	startBystander(t, g.p, g.addr, &binproto.ClientOptions{Auth: binproto.ClientAuthFunc(send)})
	cl := dial(t, g.p, g.addr, &binproto.ClientOptions{Auth: binproto.ClientAuthFunc(send)})
	if got := whoami(t, cl); got != "custom:dave:true" {
		t.Errorf("identity %q", got)
	}
}

// TestNoAuthIdentity: without an Authenticator there is no identity.
func TestNoAuthIdentity(t *testing.T) {
	g := guardedServer(t, nil, nil)
	if got := whoami(t, dial(t, g.p, g.addr, nil)); got != "::false" {
		t.Errorf("identity %q, want none", got)
	}
}

// TestBroadcastSkipsUnauthenticated: pushes go to authenticated
// connections only.
func TestBroadcastSkipsUnauthenticated(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.Auth = tokenAuth()
		s.AuthTimeout = 500 * time.Millisecond
	})
	cl := dial(t, g.p, g.addr, tokenCreds(aliceToken))
	nc := rawDial(t, g.addr)
	waitFor(t, 2*time.Second, "two connections", func() bool { return g.srv.Stats().ConnectionsActive == 2 })
	n, err := g.srv.Broadcast(testCtx(t, 5*time.Second), statusMsg(7, "news"))
	if err != nil || n != 1 {
		t.Fatalf("Broadcast: %d, %v; want 1 connection", n, err)
	}
	if m, err := cl.Receive(testCtx(t, 5*time.Second)); err != nil || m.Type != Status {
		t.Fatalf("authenticated client: %v, %v", m, err)
	}
	if got := readUntilEOF(t, nc, 3*time.Second); len(got) != 0 {
		t.Errorf("the unauthenticated connection received %x", got)
	}
	waitClose(t, g.srv, binproto.CloseAuthTimeout, 1)
}

// testPKI is a certificate authority for the mutual-TLS tests.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{cert: cert, key: key, pool: pool}
}

// issue returns a leaf for 127.0.0.1 named cn, for a server or a client.
func (ca *testPKI) issue(t testing.TB, cn string, client bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLS: client certificates verified by the server, the identity
// taken from them by TLSAuth, and the TLS 1.2 floor on both sides.
func TestMutualTLS(t *testing.T) {
	ca, rogue := newPKI(t, "binproto mTLS CA"), newPKI(t, "rogue CA")
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{ca.issue(t, "server", false)},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    ca.pool,
			MinVersion:   tls.VersionTLS10, // raised to 1.2 by the library
		}
		s.Auth = &binproto.TLSAuth{Authorize: func(c *x509.Certificate) error {
			if c.Subject.CommonName == "mallory" {
				return errors.New("mallory is not welcome")
			}
			return nil
		}}
	})
	client := func(cert *tls.Certificate, maxVersion uint16) *binproto.ClientOptions {
		cfg := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &binproto.ClientOptions{TLSConfig: cfg}
	}
	byst := ca.issue(t, "bystander", true)
	startBystander(t, g.p, g.addr, client(&byst, 0))

	alice := ca.issue(t, "alice", true)
	cl := dial(t, g.p, g.addr, client(&alice, tls.VersionTLS12))
	if got := whoami(t, cl); got != "tls:alice:true" {
		t.Errorf("identity %q, want tls:alice:true", got)
	}
	if st, _ := cl.Conn().TLSState(); st.Version != tls.VersionTLS12 {
		t.Errorf("negotiated %s, want TLS 1.2", tls.VersionName(st.Version))
	}
	calls := g.calls.Load()

	// Refused: no certificate, one from another CA, one the Authorize hook
	// rejects, and a TLS 1.1 client with a good certificate. In TLS 1.3 the
	// client's handshake may finish before the server refuses, so the
	// refusal shows on Dial or on the first request.
	mallory, stranger := ca.issue(t, "mallory", true), rogue.issue(t, "alice", true)
	for name, opts := range map[string]*binproto.ClientOptions{
		"no certificate": client(nil, 0),
		"untrusted CA":   client(&stranger, 0),
		"unauthorized":   client(&mallory, 0),
		"TLS 1.1":        client(&alice, tls.VersionTLS11),
	} {
		cl, err := binproto.Dial(testCtx(t, 5*time.Second), g.p, g.addr, opts)
		if err == nil {
			_, err = cl.Request(testCtx(t, 5*time.Second), binproto.Msg(Benchmark, map[string]any{"data": []byte("x")}))
			cl.Close()
		}
		if err == nil {
			t.Errorf("%s: the connection was served", name)
		}
	}
	waitClose(t, g.srv, binproto.CloseAuthFailed, 1) // mallory; the others fail the handshake
	if g.calls.Load() != calls {
		t.Error("a handler ran for a refused connection")
	}
}

// TestValidate: validators run before handlers; a rejection closes by
// default, or is answered in request order with OnInvalid's reply.
func TestValidate(t *testing.T) {
	reject := func(s *binproto.Server) {
		s.Validate(Status, func(m *binproto.Message) error {
			f, err := m.Fields()
			if err == nil && f["status_code"] == uint64(999) {
				return errors.New("code 999 is reserved")
			}
			return err
		})
		binproto.ValidateTyped(s, SensorData, sensorCodec, func(v *sensor) error {
			if v.S1 < 0 {
				return errors.New("negative sensor1")
			}
			return nil
		})
	}
	t.Run("close", func(t *testing.T) {
		g := guardedServer(t, nil, reject)
		startBystander(t, g.p, g.addr, nil)
		cl := dial(t, g.p, g.addr, nil)
		if _, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(999, "x")); !isClosedErr(err) {
			t.Fatalf("invalid request: %v, want the connection closed", err)
		}
		waitClose(t, g.srv, binproto.CloseInvalid, 1)
		cl2 := dial(t, g.p, g.addr, nil)
		var out sensor
		if _, err := binproto.RequestTyped(testCtx(t, 5*time.Second), cl2, binproto.Typed(SensorData, sensorCodec, &sensor{1, 2, 3, 4}), sensorCodec, &out); err != nil || out.S4 != 4 {
			t.Fatalf("valid sensor: %v %v", out, err)
		}
		if _, err := cl2.Request(testCtx(t, 5*time.Second), binproto.Typed(SensorData, sensorCodec, &sensor{-1, 2, 3, 4})); !isClosedErr(err) {
			t.Fatalf("invalid sensor: %v", err)
		}
		waitClose(t, g.srv, binproto.CloseInvalid, 2)
		if s := g.srv.Stats(); s.Invalid != 2 {
			t.Errorf("Stats.Invalid = %d, want 2", s.Invalid)
		}
		// Removing the validator lets the message through.
		g.srv.Validate(Status, nil)
		if err := checkStatusEcho(testCtx(t, 5*time.Second), dial(t, g.p, g.addr, nil), 999); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reply in order", func(t *testing.T) {
		g := guardedServer(t, nil, func(s *binproto.Server) {
			reject(s)
			s.MaxConcurrentHandlers = 4
			s.OnInvalid = binproto.Refusal{Action: binproto.ActionReply, Reply: func(_ *binproto.Message, cause error) binproto.Outgoing {
				if !errors.Is(cause, binproto.ErrInvalidMessage) {
					panic("cause does not wrap ErrInvalidMessage")
				}
				return statusMsg(400, "invalid")
			}}
		})
		startBystander(t, g.p, g.addr, nil)
		cl := dial(t, g.p, g.addr, nil)
		ctx := testCtx(t, 5*time.Second)
		errs := make(chan error, 100)
		for i := range 100 {
			go func() {
				code := i
				if i%3 == 0 {
					code = 999
				}
				m, err := cl.Request(ctx, statusMsg(code, fmt.Sprint(i)))
				if err == nil {
					f, _ := m.Fields()
					want := uint64(code)
					if code == 999 {
						want = 400
					}
					if f["status_code"] != want {
						err = fmt.Errorf("request %d: reply %v", i, f)
					}
				}
				errs <- err
			}()
		}
		for range 100 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if s := g.srv.Stats(); s.Invalid != 34 {
			t.Errorf("Stats.Invalid = %d, want 34", s.Invalid)
		}
	})
}

// rateLimited answers refusals with status 429.
var rateLimited = binproto.Refusal{Action: binproto.ActionReply, Reply: func(*binproto.Message, error) binproto.Outgoing {
	return statusMsg(429, "slow down")
}}

// flood sends n status requests at once on cl and returns how many were
// answered 429.
func flood(t *testing.T, cl *binproto.Client, n int) int {
	t.Helper()
	var limited atomic.Int64
	errs := make(chan error, n)
	for i := range n {
		go func() {
			m, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(i, "x"))
			if err == nil {
				f, _ := m.Fields()
				switch f["status_code"] {
				case uint64(429):
					limited.Add(1)
				case uint64(i):
				default:
					err = fmt.Errorf("request %d: reply %v", i, f)
				}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return int(limited.Load())
}

func TestRateLimitPerConn(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.RateLimit = binproto.RateLimit{ConnMessageRate: 10, OnExceed: rateLimited}
	})
	startBystanderEvery(t, g.p, g.addr, nil, 150*time.Millisecond) // under its own limit
	cl := dial(t, g.p, g.addr, nil)
	limited := flood(t, cl, 40)
	if limited < 20 || limited > 30 { // fewer if the flood is slow enough for refills
		t.Errorf("%d of 40 requests limited, want about 30 (burst 10)", limited)
	}
	if s := g.srv.Stats(); s.RateLimited != uint64(limited) {
		t.Errorf("Stats.RateLimited = %d, want %d", s.RateLimited, limited)
	}
	// The bucket refills.
	time.Sleep(300 * time.Millisecond)
	if err := checkStatusEcho(testCtx(t, 5*time.Second), cl, 1); err != nil {
		t.Fatal(err)
	}

	// By default a connection over its limit is closed.
	g2 := guardedServer(t, nil, func(s *binproto.Server) {
		s.RateLimit = binproto.RateLimit{ConnByteRate: 1000, Burst: 100 * time.Millisecond}
	})
	cl2 := dial(t, g2.p, g2.addr, nil)
	big := binproto.Msg(Benchmark, map[string]any{"data": make([]byte, 200)})
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = cl2.Request(testCtx(t, 5*time.Second), big)
	}
	if !isClosedErr(err) {
		t.Fatalf("flood over the byte rate: %v, want the connection closed", err)
	}
	waitClose(t, g2.srv, binproto.CloseRateLimit, 1)
}

func TestRateLimitPerIP(t *testing.T) {
	if !canBindBystander() {
		t.Skip("needs a second loopback address, " + bystanderIP)
	}
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.RateLimit = binproto.RateLimit{IPMessageRate: 10, MaxConnsPerIP: 3, OnExceed: rateLimited}
	})
	// The bystander's address has a bucket of its own, and it keeps under it.
	b := startBystanderEvery(t, g.p, g.addr, nil, 150*time.Millisecond)
	var clients []*binproto.Client
	for range 3 {
		clients = append(clients, dialFrom(t, g.p, g.addr, "127.0.0.1", nil))
	}
	limited := 0
	for _, cl := range clients {
		limited += flood(t, cl, 15)
	}
	if limited < 25 || limited > 36 { // fewer if the floods are slow enough for refills
		t.Errorf("%d of 45 requests from one address limited, want about 35", limited)
	}
	// A fourth connection from the address is refused at once.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
	nc, err := d.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectClosed(t, nc, 10*time.Second) // no timeout is set: a close at all is the refusal
	waitClose(t, g.srv, binproto.CloseLimit, 1)
	if s := g.srv.Stats(); s.ConnectionsRejected != 1 {
		t.Errorf("Stats.ConnectionsRejected = %d", s.ConnectionsRejected)
	}
	// Closing one makes room.
	clients[0].Close()
	waitFor(t, 2*time.Second, "the close", func() bool { return g.srv.Stats().ConnectionsActive == 3 })
	time.Sleep(200 * time.Millisecond) // refill the address's bucket
	if err := checkStatusEcho(testCtx(t, 5*time.Second), dialFrom(t, g.p, g.addr, "127.0.0.1", nil), 5); err != nil {
		t.Fatal(err)
	}
	if b.n.Load() < 2 {
		t.Error("the bystander made no progress")
	}
}

// TestUDPAmplification: a UDP reply larger than its request is dropped
// unless the server allows amplification; a server with Auth refuses UDP.
func TestUDPAmplification(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			checkLeaks(t)
			p := udpProto(t)
			srv := &binproto.Server{Protocol: p, AllowUDPAmplification: allow}
			registerEcho(srv)
			srv.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
				return binproto.Msg(Benchmark, map[string]any{"data": make([]byte, 10*len(m.Payload))}), nil
			})
			addr, _ := serveUDP(t, srv)
			cl := dial(t, p, addr, nil)
			if err := checkStatusEcho(testCtx(t, 5*time.Second), cl, 3); err != nil {
				t.Fatalf("same-size reply: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := cl.Request(ctx, binproto.Msg(Benchmark, map[string]any{"data": make([]byte, 100)}))
			if allow != (err == nil) {
				t.Fatalf("amplified reply: %v", err)
			}
			if s := srv.Stats(); s.AmplificationDrops != map[bool]uint64{false: 1, true: 0}[allow] {
				t.Errorf("Stats.AmplificationDrops = %d", s.AmplificationDrops)
			}
		})
	}
	t.Run("boundary", testUDPAmplificationBoundary)
	t.Run("auth refused", func(t *testing.T) {
		srv := &binproto.Server{Protocol: udpProto(t), Auth: tokenAuth()}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.ServePacket(pc); !errors.Is(err, binproto.ErrInvalidConfig) {
			t.Fatalf("ServePacket with Auth: %v, want ErrInvalidConfig", err)
		}
		if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ServePacket left its PacketConn open: %v", err)
		}
	})
}

// testUDPAmplificationBoundary: a reply exactly the size of its request
// datagram is sent; one byte more is dropped and counted.
func testUDPAmplificationBoundary(t *testing.T) {
	checkLeaks(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	// The reply has the request's structure and data grown by data[0]
	// bytes: its datagram is exactly data[0] bytes longer.
	srv.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		d := f["data"].([]byte)
		return binproto.Msg(Benchmark, map[string]any{"data": append(d, make([]byte, d[0])...)}), nil
	})
	addr, _ := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	req := func(grow byte) binproto.Outgoing {
		return binproto.Msg(Benchmark, map[string]any{"data": append([]byte{grow}, make([]byte, 99)...)})
	}
	m, err := cl.Request(testCtx(t, 5*time.Second), req(0))
	if err != nil {
		t.Fatalf("reply of the request's size: %v", err)
	}
	if f, _ := m.Fields(); len(f["data"].([]byte)) != 100 {
		t.Fatalf("reply data of %d bytes, want 100", len(f["data"].([]byte)))
	}
	ctx, cancel := context.WithCancel(testCtx(t, 10*time.Second))
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := cl.Request(ctx, req(1)); errc <- err }()
	waitFor(t, 5*time.Second, "the reply one byte larger than its request to be dropped", func() bool {
		return srv.Stats().AmplificationDrops == 1 || len(errc) > 0
	})
	cancel() // the reply is dropped: the request can only end by its context
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("request whose reply is one byte larger: %v, want context.Canceled", err)
	}
	waitFor(t, 5*time.Second, "the exact-size reply counted", func() bool { return srv.Stats().MessagesOut >= 1 })
	if s := srv.Stats(); s.AmplificationDrops != 1 || s.MessagesOut != 1 {
		t.Errorf("Stats.AmplificationDrops = %d, MessagesOut = %d, want 1 and 1", s.AmplificationDrops, s.MessagesOut)
	}
}

// TestUDPScreens: validators and rate limits apply to datagrams; refused
// ones are dropped.
func TestUDPScreens(t *testing.T) {
	checkLeaks(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p, RateLimit: binproto.RateLimit{IPMessageRate: 0.5, Burst: 10 * time.Second}}
	registerEcho(srv)
	srv.Validate(Status, func(m *binproto.Message) error {
		if f, _ := m.Fields(); f["status_code"] == uint64(999) {
			return errors.New("no")
		}
		return nil
	})
	addr, _ := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	try := func(code int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		_, err := cl.Request(ctx, statusMsg(code, "x"))
		return err
	}
	if err := try(1); err != nil {
		t.Fatal(err)
	}
	if err := try(999); err == nil {
		t.Fatal("an invalid datagram was answered")
	}
	answered := 0 // 3 tokens left of 5, refilling by one every 2 s
	for i := range 10 {
		if try(i) == nil {
			answered++
		}
	}
	if s := srv.Stats(); s.Invalid != 1 || s.RateLimited < 6 || answered < 3 || answered > 4 {
		t.Errorf("invalid %d, rate limited %d, answered %d of 10", s.Invalid, s.RateLimited, answered)
	}
}

// A TokenAuth without an OK type would leave every client waiting: Serve
// refuses it.
func TestTokenAuthNeedsOK(t *testing.T) {
	checkGoroutines(t)
	types := quickTypes()
	at := binproto.AuthTypes{Token: 10}
	at.Register(types)
	p, err := binproto.NewProtocol(binproto.Config{Types: types})
	if err != nil {
		t.Fatal(err)
	}
	srv := &binproto.Server{Protocol: p, Auth: &binproto.TokenAuth{Types: at, Tokens: map[string]string{"secret": "alice"}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveAndExpectConfigError(t, "Serve with TokenAuth without OK", func() error { return srv.Serve(l) }, func() { srv.Close() })
}
