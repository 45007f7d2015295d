package binprototarget

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"github.com/binproto/binproto/cmd/binproto/internal/testutil"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
)

// startServe runs Serve with cfg on a port of its choosing and returns the
// address it serves, a function that stops it and returns its result, and
// its log.
func startServe(t *testing.T, cfg ServeConfig) (addr string, stop func() error, out *testutil.SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cfg.Addr = "127.0.0.1:0"
	out = new(testutil.SyncBuffer)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, out) }()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("Serve did not return within 15s of its context ending")
			return nil
		}
	}
	// The log line names the port bound to 127.0.0.1:0.
	served := regexp.MustCompile(`msg="serving the benchmark protocol" addr=(127\.0\.0\.1:[0-9]+)`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := served.FindStringSubmatch(out.String()); m != nil {
			return m[1], stop, out
		}
		select {
		case err := <-done:
			t.Fatalf("Serve returned %v before serving\nlog:\n%s", err, out)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Serve did not start within 15s\nlog:\n%s", out)
		}
	}
}

// exerciseServer echoes a reading and counts one-way messages on the
// benchmark server at addr, dialled with p and opts.
func exerciseServer(t *testing.T, p *binproto.Protocol, addr string, opts *binproto.ClientOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := binproto.Dial(ctx, p, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{cl: cl}
	defer c.Close()
	in := bench.Sensor{S1: 1, S2: -2, S3: 0.5, S4: 1e6}
	if got, err := c.Sensor(ctx, in); err != nil || got != in {
		t.Fatalf("Sensor echo %+v, %v; sent %+v", got, err, in)
	}
	for range 3 {
		if err := c.SendSensor(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Flush(ctx); err != nil || n != 3 {
		t.Fatalf("Flush = %d, %v; want 3", n, err)
	}
}

func TestServeTCP(t *testing.T) {
	t.Parallel()
	addr, stop, out := startServe(t, ServeConfig{})
	p, err := Protocol(false, false)
	if err != nil {
		t.Fatal(err)
	}
	exerciseServer(t, p, addr, nil)
	if err := stop(); err != nil || !strings.Contains(out.String(), "udp=false checksum=false tls=false") {
		t.Fatalf("Serve: %v, log:\n%s", err, out)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatalf("%s still accepts after Serve returned", addr)
	}
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := writeTestCert(t)
	addr, stop, out := startServe(t, ServeConfig{TLSCert: certFile, TLSKey: keyFile})
	p, err := Protocol(false, false)
	if err != nil {
		t.Fatal(err)
	}
	exerciseServer(t, p, addr, &binproto.ClientOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	if err := stop(); err != nil || !strings.Contains(out.String(), "tls=true") {
		t.Fatalf("Serve: %v, log:\n%s", err, out)
	}
}

func TestServeUDP(t *testing.T) {
	t.Parallel()
	addr, stop, out := startServe(t, ServeConfig{UDP: true, Checksum: true})
	p, err := Protocol(true, true)
	if err != nil {
		t.Fatal(err)
	}
	exerciseServer(t, p, addr, nil)
	if err := stop(); err != nil || !strings.Contains(out.String(), "udp=true checksum=true") {
		t.Fatalf("Serve: %v, log:\n%s", err, out)
	}
}

func TestServeErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	var out testutil.SyncBuffer
	if err := Serve(ctx, ServeConfig{Addr: "127.0.0.1:0", TLSCert: missing, TLSKey: missing}, &out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Serve with missing TLS files: %v", err)
	}
	if err := Serve(ctx, ServeConfig{Addr: "127.0.0.1:http-alt-nope"}, &out); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
	if out.String() != "" {
		t.Errorf("failed Serve logged:\n%s", out.String())
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files, and returns them with a pool that trusts the certificate.
func writeTestCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "binproto test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
