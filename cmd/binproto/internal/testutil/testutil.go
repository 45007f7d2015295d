// Package testutil holds what the tests of several packages of the CLI
// module share.
package testutil

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/binproto/binproto"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers: a
// server's log, written by its goroutines and read by the test.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ServeLoopback serves srv on a free loopback port and returns its
// address; when the test ends it closes srv and checks that Serve returned
// ErrServerClosed.
func ServeLoopback(t testing.TB, srv *binproto.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}
