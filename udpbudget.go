package binproto

import (
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"
)

// UDPOptions tune how ServePacket reads datagrams. The zero value is the
// defaults. See SECURITY.md for what they can and cannot do under a flood.
type UDPOptions struct {
	// SourceRate bounds the datagrams per second ServePacket takes from one
	// source IP address (IPv6: one /64), all its ports together. It is
	// checked right after a datagram is read, before it is decoded or
	// anything is allocated for it, so a flooding source costs a read and a
	// table lookup per datagram; datagrams over it are dropped unanswered
	// and counted in Stats.DatagramsThrottled. A source's budget is kept
	// per socket (per ServePacket call). Zero: DefaultUDPSourceRate;
	// negative: no budget. RateLimit applies on top, to the datagrams
	// admitted.
	SourceRate float64
	// SourceBurst is how many seconds' worth of SourceRate a quiet source
	// may send at once. Default 1 s.
	SourceBurst time.Duration
	// MaxSources bounds the source addresses whose budgets are kept; when
	// the table is full, sources whose budgets are full are forgotten
	// first. Default DefaultMaxTrackedIPs.
	MaxSources int
	// Readers is the number of goroutines reading the socket at once.
	// Default DefaultUDPReaders(): one per CPU (GOMAXPROCS), at most 4.
	// The datagrams of one source address and port are handled one at a
	// time whatever the number of readers, possibly out of order (as UDP
	// may deliver them anyway).
	Readers int
	// ReadBuffer is the socket receive buffer (SO_RCVBUF) ServePacket asks
	// for when the socket has SetReadBuffer (a *net.UDPConn does): room for
	// bursts while the readers are busy. The kernel may grant less (on
	// Linux, net.core.rmem_max caps it). Zero: DefaultUDPReadBuffer;
	// negative: the socket is left as it is.
	ReadBuffer int
}

// The defaults of UDPOptions.
const (
	DefaultUDPSourceRate = 4096    // datagrams per second per source IP
	DefaultUDPReadBuffer = 4 << 20 // bytes
	maxDefaultUDPReaders = 4
)

// DefaultUDPReaders returns the number of readers of ServePacket when
// UDPOptions.Readers is zero: GOMAXPROCS, at most 4.
func DefaultUDPReaders() int { return min(runtime.GOMAXPROCS(0), maxDefaultUDPReaders) }

func (o *UDPOptions) readers() int {
	if o.Readers > 0 {
		return o.Readers
	}
	return DefaultUDPReaders()
}

func (o *UDPOptions) readBuffer() int {
	if o.ReadBuffer == 0 {
		return DefaultUDPReadBuffer
	}
	return o.ReadBuffer
}

// budgetShards is the number of independently locked parts of a source
// budget table, so that readers admitting datagrams from different
// sources rarely wait for one another.
const budgetShards = 16

// sourceBudget is the per-source datagram budget of one packet socket:
// the per-IP tables of the rate limits (ratelimit.go), sharded by address.
type sourceBudget struct {
	shards    [budgetShards]*ipTable
	throttled *atomic.Uint64
}

// newSourceBudget returns the budget o describes, or nil when it is off.
func newSourceBudget(o *UDPOptions, throttled *atomic.Uint64) *sourceBudget {
	rate := o.SourceRate
	switch {
	case rate < 0:
		return nil
	case rate == 0:
		rate = DefaultUDPSourceRate
	}
	n := o.MaxSources
	if n <= 0 {
		n = DefaultMaxTrackedIPs
	}
	lim := &RateLimit{IPMessageRate: rate, Burst: o.SourceBurst, MaxTrackedIPs: (n + budgetShards - 1) / budgetShards}
	b := &sourceBudget{throttled: throttled}
	for i := range b.shards {
		b.shards[i] = newIPTable(lim, authThrottle{}) // no authentication over UDP
	}
	return b
}

// admit charges a datagram from src to its address's budget and reports
// whether it is within it. It allocates nothing once the address is known.
func (b *sourceBudget) admit(src netip.AddrPort) bool {
	key, ok := addrKey(src)
	if !ok {
		return true
	}
	if b.shards[shardOf(key)].take(key, timeNow()) {
		return true
	}
	b.throttled.Add(1)
	return false
}

// shardOf spreads addresses over the shards.
func shardOf(a netip.Addr) int {
	s := a.As16()
	var h uint64
	for _, c := range s {
		h = (h ^ uint64(c)) * 1099511628211 // FNV-1a
	}
	return int(h % budgetShards)
}

// take charges one message to key's message bucket, all or nothing.
func (t *ipTable) take(key netip.Addr, now time.Time) bool {
	t.mu.Lock()
	e := t.entry(key, now)
	e.mu.Lock()
	ok := e.rate.msgs.allow(now, 1)
	e.mu.Unlock()
	t.mu.Unlock()
	return ok
}
