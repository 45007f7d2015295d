//go:build unix

package binproto

import (
	"syscall"
	"testing"
)

// TestDefaultMaxConnections: an unset MaxConnections is derived from the
// file-descriptor limit (seven eighths of it), so that an idle flood is
// refused before the process runs out of descriptors; negative is no bound.
func TestDefaultMaxConnections(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	p := MustProtocol(Config{Types: map[MessageType]*Structure{1: MustStructure()}})
	s := &Server{Protocol: p}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	want := int(lim.Cur - lim.Cur/8)
	if lim.Cur >= 1<<24 {
		want = 0
	}
	if s.maxConns != want {
		t.Errorf("default bound %d, want %d (limit %d)", s.maxConns, want, lim.Cur)
	}
	u := &Server{Protocol: p, MaxConnections: -1}
	u.init()
	if u.maxConns != 0 {
		t.Errorf("MaxConnections -1: bound %d, want none", u.maxConns)
	}
}
