package binproto

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

	b := newBucket(10, 1, t0) // 10/s, holds 10
	for i := range 10 {
		if !b.allow(t0, 1) {
			t.Fatalf("token %d of a full bucket refused", i)
		}
	}
	if b.allow(t0, 1) {
		t.Fatal("an empty bucket allowed a token")
	}
	if b.allow(at(50), 1) {
		t.Fatal("half a token's worth of time allowed a token")
	}
	if !b.allow(at(100), 1) {
		t.Fatal("a token's worth of time did not allow a token")
	}
	if !b.full(at(100_000)) || b.tokens != 10 {
		t.Fatalf("the bucket did not refill to its capacity: %v", b.tokens)
	}

	// A request above the capacity passes when the bucket is full and
	// leaves it in debt, which delays what follows by the rate.
	bb := newBucket(1000, 1, t0) // 1000 B/s, holds 1000
	if !bb.allow(t0, 3000) {
		t.Fatal("a frame larger than a full bucket was refused")
	}
	if bb.allow(at(1000), 1) {
		t.Fatal("a bucket 2000 in debt allowed a byte a second later")
	}
	if !bb.allow(at(2005), 1) {
		t.Fatal("the debt was not paid off after two seconds")
	}

	// The zero bucket, and a zero rate, allow everything.
	var z tokenBucket
	if !z.allow(t0, 1e9) || !z.full(t0) {
		t.Fatal("the zero bucket limited something")
	}
	if nb := newBucket(0, 1, t0); !nb.allow(t0, 1e9) {
		t.Fatal("a zero-rate bucket limited something")
	}

	// A small burst still holds one token.
	if sb := newBucket(0.5, 1, t0); !sb.allow(t0, 1) || sb.allow(t0, 1) || !sb.allow(at(2000), 1) {
		t.Fatal("a 0.5/s bucket: want one token at once, the next after 2 s")
	}

	// The clock going backwards adds nothing.
	cb := newBucket(10, 1, at(1000))
	for cb.allow(at(1000), 1) {
	}
	if cb.allow(at(0), 1) {
		t.Fatal("an earlier time refilled the bucket")
	}
}

func TestRateStateAllOrNothing(t *testing.T) {
	t0 := time.Now()
	conn := &rateState{msgs: newBucket(100, 1, t0), bytes: newBucket(10, 1, t0)}
	ip := &ipEntry{rate: rateState{msgs: newBucket(2, 1, t0)}}
	if !allowFrame(conn, ip, 10, false) {
		t.Fatal("first frame refused")
	}
	msgs := conn.msgs.tokens
	// The connection's byte bucket is in no state to pay: nothing is taken
	// from the address.
	if allowFrame(conn, ip, 10, false) {
		t.Fatal("second frame allowed with an empty byte bucket")
	}
	if conn.msgs.tokens < msgs-0.5 {
		t.Fatalf("a refused frame took a message token: %v -> %v", msgs, conn.msgs.tokens)
	}
	if ip.rate.msgs.tokens < 0.99 {
		t.Fatalf("a refused frame took the address's token: %v", ip.rate.msgs.tokens)
	}
	if !allowFrame(nil, ip, 1, false) || allowFrame(nil, ip, 1, false) {
		t.Fatal("the address's message bucket: want one more frame, then none")
	}
}

// TestBytesChargedOnArrival: bytes read from a stream are charged as they
// arrive, partial frames included; a frame is then judged by what the
// bucket held before its bytes came (a frame larger than the bucket passes
// when the bucket was full), and only its message is charged.
func TestBytesChargedOnArrival(t *testing.T) {
	t0 := time.Now()
	defer func(f func() time.Time) { timeNow = f }(timeNow)
	timeNow = func() time.Time { return t0 } // no refill
	conn := &rateState{msgs: newBucket(100, 1, t0), bytes: newBucket(100, 1, t0)}
	chargeBytes(conn, nil, 60)
	if !allowFrame(conn, nil, 60, true) || conn.bytes.tokens != 40 || conn.msgs.tokens != 99 {
		t.Fatalf("first frame: bytes %v msgs %v", conn.bytes.tokens, conn.msgs.tokens)
	}
	chargeBytes(conn, nil, 60) // 40 left: not enough for it
	if allowFrame(conn, nil, 60, true) {
		t.Fatal("a frame over what the bucket held was allowed")
	}
	// Bytes of a frame that never completes still count.
	chargeBytes(conn, nil, 30)
	if conn.bytes.tokens != -50 {
		t.Fatalf("tokens %v after a partial frame, want -50", conn.bytes.tokens)
	}
	full := &rateState{msgs: newBucket(100, 1, t0), bytes: newBucket(100, 1, t0)}
	chargeBytes(full, nil, 250)
	if !allowFrame(full, nil, 250, true) {
		t.Fatal("a frame larger than a full bucket was refused")
	}
}

func TestIPKey(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}, "127.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 1}, "10.0.0.1"},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::"},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 9}, "2001:db8:1:2::"},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, ""},
		{nil, ""},
	} {
		k, ok := ipKey(c.addr)
		if got := k.String(); ok != (c.want != "") || ok && got != c.want {
			t.Errorf("ipKey(%v) = %v, %v; want %q", c.addr, got, ok, c.want)
		}
	}
}

func TestIPTableBounded(t *testing.T) {
	lim := &RateLimit{IPMessageRate: 1, MaxConnsPerIP: 2, MaxTrackedIPs: 16}
	tab := newIPTable(lim, authThrottle{})
	a := netip.MustParseAddr("10.0.0.1")
	e1, ok1 := tab.acquire(a, 2)
	_, ok2 := tab.acquire(a, 2)
	if _, ok3 := tab.acquire(a, 2); ok1 != admitted || ok2 != admitted || ok3 != overConns {
		t.Fatalf("acquire: %v %v %v, want admitted admitted overConns", ok1, ok2, ok3)
	}
	tab.release(e1)
	if _, ok := tab.acquire(a, 2); ok != admitted {
		t.Fatal("acquire after a release refused")
	}
	// Many addresses without connections: the table stays bounded, and the
	// address with open connections is kept.
	now := time.Now()
	for i := range 1000 {
		tab.lookup(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now)
	}
	if n := tab.len(); n > 16 {
		t.Fatalf("table holds %d addresses, bound 16", n)
	}
	if e := tab.lookup(a, now); e.conns != 2 {
		t.Fatalf("the connected address was forgotten (conns %d)", e.conns)
	}
}

// TestAuthTurn: an address's failures to spare let authentications through
// at once; without, one waits its turn, reserving it, and the next one,
// whose wait would exceed the bound, is refused; a success gives its
// reserved turn back.
func TestAuthTurn(t *testing.T) {
	at := AuthFailureLimit{Rate: 2, Burst: 2, MaxDelay: time.Second}.resolve()
	tab := newIPTable(&RateLimit{}, at)
	now := time.Now()
	e := tab.lookup(netip.MustParseAddr("10.0.0.1"), now)
	for i := range 2 {
		if wait, reserved, ok := e.authTurn(now, at.maxDelay, true); wait != 0 || reserved || !ok {
			t.Fatalf("turn %d: %v %v %v, want at once", i, wait, reserved, ok)
		}
		e.authDone(true, false)
	}
	// No failure to spare: the next earns one in 500 ms and reserves it.
	wait, reserved, ok := e.authTurn(now, at.maxDelay, true)
	if wait != 500*time.Millisecond || !reserved || !ok {
		t.Fatalf("third turn: %v %v %v, want a reserved turn in 500ms", wait, reserved, ok)
	}
	// The next would wait 1 s: still within the bound, but a look at
	// accept does not reserve.
	if w, r, ok := e.authTurn(now, at.maxDelay, false); w != time.Second || r || !ok {
		t.Fatalf("look: %v %v %v", w, r, ok)
	}
	if w, r, ok := e.authTurn(now, at.maxDelay, true); w != time.Second || !r || !ok {
		t.Fatalf("fourth turn: %v %v %v", w, r, ok)
	}
	if _, _, ok := e.authTurn(now, at.maxDelay, true); ok {
		t.Fatal("a turn beyond MaxDelay was granted")
	}
	// The reserved turns succeed: given back, the next waits 500 ms again.
	e.authDone(false, true)
	e.authDone(false, true)
	if w, _, ok := e.authTurn(now, at.maxDelay, false); w != 500*time.Millisecond || !ok {
		t.Fatalf("after two successes: %v %v", w, ok)
	}
	// An address in debt is kept when the table evicts.
	if e.fullAt(now) {
		t.Fatal("an address with failures counts as full")
	}
	if !e.fullAt(now.Add(2 * time.Second)) {
		t.Fatal("the failures were not forgotten after Burst/Rate")
	}
}
