//go:build !race

package binproto

import (
	"net/netip"
	"sync/atomic"
	"testing"
)

// The per-source budget allocates nothing for a known source, admitted or
// throttled: a flood costs a lookup per datagram.
func TestSourceBudgetAllocs(t *testing.T) {
	var throttled atomic.Uint64
	b := newSourceBudget(&UDPOptions{SourceRate: 10}, &throttled)
	v4 := netip.MustParseAddrPort("192.0.2.1:5000")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:5000")
	b.admit(v4)
	b.admit(v6)
	if n := testing.AllocsPerRun(1000, func() { b.admit(v4); b.admit(v6) }); n != 0 {
		t.Errorf("%v allocations per admission, want 0", n)
	}
	if throttled.Load() == 0 {
		t.Error("nothing throttled at 10 datagrams/s")
	}
	// An IPv6 source is budgeted by /64: another address of the prefix
	// shares the exhausted budget.
	if b.admit(netip.MustParseAddrPort("[2001:db8::2]:1")) {
		t.Error("another address of an exhausted /64 admitted")
	}
	if newSourceBudget(&UDPOptions{SourceRate: -1}, &throttled) != nil {
		t.Error("a negative SourceRate left the budget on")
	}
}
