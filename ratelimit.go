package binproto

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ErrRateLimited is the cause passed to Refusal.Reply, and the error a
// connection closes with, when a message exceeds a rate limit.
var ErrRateLimited = errors.New("binproto: rate limit exceeded")

// Action is what a server does with a message it refuses: one over a rate
// limit (RateLimit.OnExceed) or one a validator rejects (Server.OnInvalid).
type Action uint8

const (
	// ActionClose closes the connection (the zero value). It is the only
	// action that is safe for every kind of traffic.
	ActionClose Action = iota
	// ActionReply answers the message with Refusal.Reply instead of running
	// its handler, which keeps request/reply streams in step.
	ActionReply
	// ActionDrop discards the message silently. Use it only for one-way
	// traffic: the compatible framing matches replies to requests by order,
	// so a dropped request leaves its client's call waiting until its
	// context ends.
	ActionDrop
)

// Refusal says how a server refuses a message. Over UDP, where there is no
// connection, ActionClose drops the datagram.
type Refusal struct {
	// Action is what happens; the zero value closes the connection.
	Action Action
	// Reply builds the answer of ActionReply from the refused message and
	// the cause (wrapping ErrRateLimited or ErrInvalidMessage). It runs where
	// a handler would, and its result is subject to the same rules (the zero
	// Outgoing sends nothing). A nil Reply makes ActionReply close the
	// connection.
	Reply func(m *Message, cause error) Outgoing
}

// RateLimit bounds what one connection and one client IP address may send.
// Every zero field leaves its limit off, so the zero RateLimit limits
// nothing. Rates are token buckets: a bucket holds Burst's worth of its rate
// and refills continuously; a message is refused when a bucket it draws
// from is empty, and is then handled as OnExceed says (counted in
// Stats.RateLimited). Nothing is ever queued.
//
// IPv4 addresses are limited one by one; IPv6 addresses by /64 prefix, the
// block one subscriber usually holds. Connections that are not IP (pipes,
// Unix sockets) are subject to the per-connection limits only.
type RateLimit struct {
	// ConnMessageRate bounds the messages per second of one connection
	// (over UDP: of one source address and port).
	ConnMessageRate float64
	// ConnByteRate bounds the frame bytes per second of one connection.
	ConnByteRate float64
	// IPMessageRate bounds the messages per second of all the connections
	// and datagrams of one client IP address together.
	IPMessageRate float64
	// IPByteRate bounds the frame bytes per second of one client IP address.
	IPByteRate float64
	// Burst is how many seconds' worth of its rate each bucket holds, so a
	// quiet peer may then send that much at once. Default 1 s. A frame
	// larger than a byte bucket passes when the bucket is full and leaves it
	// in debt, so no frame size is refused forever.
	Burst time.Duration
	// MaxConnsPerIP bounds the TCP (and TLS) connections open at once from
	// one client IP address; a connection over it is closed at once,
	// counted in Stats.ConnectionsRejected and as CloseLimit.
	MaxConnsPerIP int
	// IPConnRate bounds the new TCP (and TLS) connections per second from
	// one client IP address, with Burst; a connection over it is closed at
	// once, before any TLS handshake, counted in Stats.ConnectionsRejected
	// and as CloseLimit. MaxConnsPerIP bounds how many are open; this, how
	// fast they come. Off (zero) by default.
	IPConnRate float64
	// MaxTrackedIPs bounds the client addresses whose buckets are kept
	// (those of Server.AuthFailures too). When the table is full,
	// addresses with no open connection are forgotten, those with full
	// buckets first. Default 65536.
	MaxTrackedIPs int
	// OnExceed says what happens to a message over a limit; by default the
	// connection is closed (CloseRateLimit).
	OnExceed Refusal
}

// DefaultMaxTrackedIPs is the size of the per-IP table when
// RateLimit.MaxTrackedIPs is zero.
const DefaultMaxTrackedIPs = 65536

func (r *RateLimit) connLimited() bool { return r.ConnMessageRate > 0 || r.ConnByteRate > 0 }
func (r *RateLimit) ipLimited() bool {
	return r.ipRated() || r.MaxConnsPerIP > 0 || r.IPConnRate > 0
}

// ipRated reports whether the frames of an address are limited.
func (r *RateLimit) ipRated() bool { return r.IPMessageRate > 0 || r.IPByteRate > 0 }

// burstSeconds returns the bucket depth in seconds.
func (r *RateLimit) burstSeconds() float64 {
	if r.Burst <= 0 {
		return 1
	}
	return r.Burst.Seconds()
}

// tokenBucket is a token bucket over a float count of tokens. It is not
// safe for concurrent use; its owner serialises calls. The zero value (rate
// 0) allows everything.
type tokenBucket struct {
	rate   float64 // tokens added per second; <= 0: unlimited
	burst  float64 // capacity
	tokens float64
	last   time.Time
}

// newBucket returns a full bucket of rate tokens per second holding
// burstSec seconds' worth (at least one token).
func newBucket(rate, burstSec float64, now time.Time) tokenBucket {
	if rate <= 0 {
		return tokenBucket{}
	}
	b := max(rate*burstSec, 1)
	return tokenBucket{rate: rate, burst: b, tokens: b, last: now}
}

// refill adds the tokens earned since the last call.
func (b *tokenBucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// ready refills the bucket and reports whether n tokens may be taken: the
// bucket holds n tokens, or, for n above the capacity, is full.
func (b *tokenBucket) ready(now time.Time, n float64) bool {
	if b.rate <= 0 {
		return true
	}
	b.refill(now)
	return b.tokens >= min(n, b.burst)
}

// take removes n tokens; the bucket may go into debt.
func (b *tokenBucket) take(n float64) {
	if b.rate > 0 {
		b.tokens -= n
	}
}

// readyTaken is ready for n tokens that were already taken (bytes charged
// as they arrived): whether the bucket held them before they were.
func (b *tokenBucket) readyTaken(now time.Time, n float64) bool {
	if b.rate <= 0 {
		return true
	}
	b.refill(now)
	return b.tokens+n >= min(n, b.burst)
}

// allow takes n tokens if ready.
func (b *tokenBucket) allow(now time.Time, n float64) bool {
	if !b.ready(now, n) {
		return false
	}
	b.take(n)
	return true
}

// full reports whether the bucket is at capacity at now (forgetting it
// loses nothing).
func (b *tokenBucket) full(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	b.refill(now)
	return b.tokens >= b.burst
}

// rateState is the pair of buckets of one connection or one address.
type rateState struct {
	msgs, bytes tokenBucket
}

func (r *rateState) ready(now time.Time, n int) bool {
	return r.msgs.ready(now, 1) && r.bytes.ready(now, float64(n))
}

func (r *rateState) take(n int) {
	r.msgs.take(1)
	r.bytes.take(float64(n))
}

// readyArrived and takeArrived are ready and take for a frame whose bytes
// were charged as they arrived (chargeBytes).
func (r *rateState) readyArrived(now time.Time, n int) bool {
	return r.msgs.ready(now, 1) && r.bytes.readyTaken(now, float64(n))
}

func (r *rateState) takeArrived() { r.msgs.take(1) }

func (r *rateState) full(now time.Time) bool { return r.msgs.full(now) && r.bytes.full(now) }

// ipEntry is the state of one client address (or IPv6 /64).
type ipEntry struct {
	conns    int         // open TCP connections; guarded by ipTable.mu
	newConns tokenBucket // new TCP connections (IPConnRate); guarded by ipTable.mu

	mu        sync.Mutex
	rate      rateState
	authFails tokenBucket // failed authentications (auththrottle.go)
}

// ipTable maps client addresses to their entries, bounded in size.
type ipTable struct {
	lim      *RateLimit
	throttle authThrottle // of failed authentications
	max      int

	mu sync.Mutex
	m  map[netip.Addr]*ipEntry
}

func newIPTable(lim *RateLimit, throttle authThrottle) *ipTable {
	n := lim.MaxTrackedIPs
	if n <= 0 {
		n = DefaultMaxTrackedIPs
	}
	return &ipTable{lim: lim, throttle: throttle, max: n, m: make(map[netip.Addr]*ipEntry)}
}

// ipKey returns the table key of a remote address: the IPv4 address, or
// the /64 prefix of an IPv6 one. ok is false for addresses that are not IP.
func ipKey(a net.Addr) (netip.Addr, bool) {
	ap, ok := addrPortOf(a)
	if !ok {
		return netip.Addr{}, false
	}
	return addrKey(ap)
}

// addrPortOf returns the IP address and port of a, if it has them.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort(), true
	case *net.UDPAddr:
		return a.AddrPort(), true
	case nil:
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}

// addrKey is ipKey of an address already in hand (a datagram's source).
func addrKey(ap netip.AddrPort) (netip.Addr, bool) {
	ip := ap.Addr().Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr(), true
	}
	return ip, true
}

// entry returns the entry of key, creating it; t.mu must be held.
func (t *ipTable) entry(key netip.Addr, now time.Time) *ipEntry {
	if e, ok := t.m[key]; ok {
		return e
	}
	if len(t.m) >= t.max {
		t.evict(now)
	}
	bs := t.lim.burstSeconds()
	e := &ipEntry{
		newConns: newBucket(t.lim.IPConnRate, bs, now),
		rate: rateState{
			msgs:  newBucket(t.lim.IPMessageRate, bs, now),
			bytes: newBucket(t.lim.IPByteRate, bs, now),
		},
		authFails: t.throttle.bucket(now),
	}
	t.m[key] = e
	return e
}

// evict frees about an eighth of the table: entries without connections
// whose buckets are full first (nothing is lost), then any entry without
// connections. Entries with open connections stay, so the table can exceed
// its bound by at most the number of open connections.
func (t *ipTable) evict(now time.Time) {
	goal := max(t.max/8, 1)
	freed := 0
	for k, e := range t.m {
		if e.conns == 0 && e.fullAt(now) {
			delete(t.m, k)
			freed++
		}
	}
	for k, e := range t.m {
		if freed >= goal {
			return
		}
		if e.conns == 0 {
			delete(t.m, k)
			freed++
		}
	}
}

// fullAt reports whether all the buckets of e are full; t.mu must be held.
func (e *ipEntry) fullAt(now time.Time) bool {
	if !e.newConns.full(now) {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rate.full(now) && e.authFails.full(now)
}

// admission is what acquire decided about a new connection.
type admission uint8

const (
	admitted     admission = iota
	overConns              // refused: MaxConnsPerIP
	overConnRate           // refused: IPConnRate
)

// acquire counts a new connection from key, refusing it (returning why)
// when the address already has maxConns (if > 0) open or is over its
// IPConnRate.
func (t *ipTable) acquire(key netip.Addr, maxConns int) (*ipEntry, admission) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := timeNow()
	e := t.entry(key, now)
	if maxConns > 0 && e.conns >= maxConns {
		return nil, overConns
	}
	if !e.newConns.allow(now, 1) {
		return nil, overConnRate
	}
	e.conns++
	return e, admitted
}

// release uncounts a connection of e. The entry stays, so that reconnecting
// does not refill an address's buckets.
func (t *ipTable) release(e *ipEntry) {
	t.mu.Lock()
	e.conns--
	t.mu.Unlock()
}

// lookup returns the entry of key for a datagram.
func (t *ipTable) lookup(key netip.Addr, now time.Time) *ipEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entry(key, now)
}

// len returns the number of tracked addresses.
func (t *ipTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// allowFrame charges a frame of n bytes to the connection's buckets and to
// its address's, all or nothing. conn may be nil (no per-connection limit)
// and so may ip. arrived says that the frame's bytes were charged as they
// arrived (chargeBytes, streams): then only the message is charged, and
// the bytes are judged as if they had been taken now.
func allowFrame(conn *rateState, ip *ipEntry, n int, arrived bool) bool {
	now := timeNow()
	ready := func(r *rateState) bool {
		if arrived {
			return r.readyArrived(now, n)
		}
		return r.ready(now, n)
	}
	take := func(r *rateState) {
		if arrived {
			r.takeArrived()
		} else {
			r.take(n)
		}
	}
	if conn != nil && !ready(conn) {
		return false
	}
	if ip != nil {
		ip.mu.Lock()
		ok := ready(&ip.rate)
		if ok {
			take(&ip.rate)
		}
		ip.mu.Unlock()
		if !ok {
			return false
		}
	}
	if conn != nil {
		take(conn)
	}
	return true
}

// chargeBytes takes n bytes read from a stream from the byte buckets of
// the connection and of its address as they arrive, frame complete or
// not, so that a peer's partial frames count against its byte rate too.
// The buckets may go into debt: later frames wait it out (allowFrame).
func chargeBytes(conn *rateState, ip *ipEntry, n int) {
	now := timeNow()
	if conn != nil && conn.bytes.rate > 0 {
		conn.bytes.refill(now)
		conn.bytes.take(float64(n))
	}
	if ip != nil {
		ip.mu.Lock()
		if ip.rate.bytes.rate > 0 {
			ip.rate.bytes.refill(now)
			ip.rate.bytes.take(float64(n))
		}
		ip.mu.Unlock()
	}
}
