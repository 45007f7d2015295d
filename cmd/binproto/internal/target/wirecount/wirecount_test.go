package wirecount

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestDialerCounts: the bytes written and read on a dialed connection are
// counted, on every connection of the Dialer.
func TestDialerCounts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d Dialer
	for i, size := range []int{1, 1000} {
		c, err := d.DialContext(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if want := []uint64{2, 2002}[i]; d.Bytes() != want {
			t.Errorf("after connection %d: %d bytes, want %d", i, d.Bytes(), want)
		}
	}
	if _, err := d.DialContext(ctx, "tcp", "127.0.0.1:0"); err == nil {
		t.Error("dial to port 0 succeeded")
	}
}
