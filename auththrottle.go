package binproto

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/binproto/binproto/internal/engine"
)

// Defaults of AuthFailureLimit, applied to its zero fields.
const (
	// DefaultAuthFailureRate is the failed authentications per second one
	// client address may sustain.
	DefaultAuthFailureRate = 1.0
	// DefaultAuthFailureBurst is the failed authentications one client
	// address may have in a row before it is throttled.
	DefaultAuthFailureBurst = 5
	// DefaultAuthFailureDelay is the longest a throttled authentication
	// waits for its turn before it is refused instead.
	DefaultAuthFailureDelay = time.Second
)

// AuthFailureLimit throttles the failed authentications of each client
// address, so that credentials cannot be guessed at network speed. It
// applies to every Authenticator, built-in or custom; its zero value is
// the default, on. A failure is an authentication the Authenticator
// refused (an error from Begin or a step, or no decision); it is charged
// to its address, an IPv4 address or an IPv6 /64 as in RateLimit, in a
// token bucket of Burst failures refilled at Rate per second. A success
// costs nothing and restores nothing.
//
// While its address has failures to spare, a connection authenticates at
// once. When it has none, a new connection's authentication (Begin, and
// each frame judged) waits for the next one to be earned, on the
// connection's own goroutine and for at most MaxDelay, and at most one
// connection waits per failure that can be earned within MaxDelay. A
// connection that would have to wait longer is refused: at accept, before
// any TLS handshake, it is closed at once (counted in
// Stats.ConnectionsRejected); later, it is closed without its frame being
// judged. Either counts in Stats.AuthThrottled and as CloseAuthFailed,
// since to the client it is a failed authentication. So one address cannot
// have more than Burst plus Rate per second of its guesses judged, however
// many connections it opens (a few more may slip through when many
// connections are judged at the same instant; they are charged, and delay
// the next ones the longer). Connections that are not IP (pipes, Unix
// sockets) are not throttled.
//
// The state of an address is kept in the table of RateLimit.MaxTrackedIPs
// addresses, which forgets the addresses without a debt first.
type AuthFailureLimit struct {
	// Rate is the failures per second one address may sustain. Default
	// DefaultAuthFailureRate (1); negative: no throttling.
	Rate float64
	// Burst is how many failures one address may have in a row before it
	// is throttled. Default DefaultAuthFailureBurst (5).
	Burst int
	// MaxDelay bounds the wait of a throttled authentication; one that
	// would wait longer is refused. Default DefaultAuthFailureDelay (1 s);
	// negative: throttled authentications are refused, never delayed.
	MaxDelay time.Duration
}

// authThrottle is an AuthFailureLimit with its defaults resolved.
type authThrottle struct {
	rate     float64 // failures per second; 0: off
	burst    float64
	maxDelay time.Duration
}

func (l AuthFailureLimit) resolve() authThrottle {
	at := authThrottle{rate: l.Rate, burst: float64(l.Burst), maxDelay: l.MaxDelay}
	switch {
	case at.rate == 0:
		at.rate = DefaultAuthFailureRate
	case at.rate < 0:
		return authThrottle{}
	}
	if at.burst <= 0 {
		at.burst = DefaultAuthFailureBurst
	}
	switch {
	case at.maxDelay == 0:
		at.maxDelay = DefaultAuthFailureDelay
	case at.maxDelay < 0:
		at.maxDelay = 0
	}
	return at
}

func (at authThrottle) on() bool { return at.rate > 0 }

// bucket returns a full bucket of failures.
func (at authThrottle) bucket(now time.Time) tokenBucket {
	if !at.on() {
		return tokenBucket{}
	}
	return newBucket(at.rate, at.burst/at.rate, now)
}

// errAuthThrottled is the cause of the close of a throttled connection.
var errAuthThrottled = fmt.Errorf("%w: too many failed authentications from this address", ErrAuthFailed)

// authTurn decides when an authentication from e may be judged at now:
// at once while the address has a failure to spare (wait 0); after wait
// when it has to earn one within maxDelay, in which case, if reserve is
// set, the failure is charged in advance (reserved) so that the next
// connection waits its own turn; never (ok false) when the wait would be
// longer than maxDelay.
func (e *ipEntry) authTurn(now time.Time, maxDelay time.Duration, reserve bool) (wait time.Duration, reserved, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := &e.authFails
	if b.ready(now, 1) {
		return 0, false, true
	}
	wait = time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	if wait > maxDelay {
		return 0, false, false
	}
	if reserve {
		b.take(1)
	}
	return wait, reserve, true
}

// authDone settles an authentication of e: a failure is charged unless it
// was reserved; a success gives a reserved failure back.
func (e *ipEntry) authDone(failed, reserved bool) {
	if failed == reserved {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := &e.authFails
	if failed {
		b.take(1)
	} else {
		b.tokens = min(b.burst, b.tokens+1)
	}
}

// throttled reports whether a new connection to be authenticated must be
// refused at accept, its address having failed too often; it runs on the
// accept loop, so it only looks.
func (s *Server) throttled(c *Conn, e *ipEntry) bool {
	if e == nil || s.Auth == nil || !s.sec.throttle.on() {
		return false
	}
	_, _, ok := e.authTurn(timeNow(), s.sec.throttle.maxDelay, false)
	if ok {
		return false
	}
	s.sec.counts.authThrottled.Add(1)
	return true
}

// authGate runs before an authentication step (Begin, or the judging of a
// frame) on the connection's read goroutine: it waits for the address's
// turn or returns the error that closes the connection. Once the
// connection holds a reserved turn it passes at once.
func (s *Server) authGate(c *Conn) error {
	sec := c.sec
	if sec.ip == nil || sec.authReserved || !s.sec.throttle.on() {
		return nil
	}
	wait, reserved, ok := sec.ip.authTurn(timeNow(), s.sec.throttle.maxDelay, true)
	if !ok {
		s.sec.counts.authThrottled.Add(1)
		return engine.Close(CloseAuthFailed, errAuthThrottled)
	}
	sec.authReserved = reserved
	if wait <= 0 {
		return nil
	}
	s.sec.counts.authDelayed.Add(1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.Context().Done():
		return context.Cause(c.Context())
	}
}

// authSettled records the outcome of an authentication: counted, and
// charged to the address when it failed.
func (s *Server) authSettled(c *Conn, failed bool) {
	sec := c.sec
	if failed {
		s.sec.counts.authFailures.Add(1)
		c.observeConn(ConnAuthFailed, "", nil)
	}
	if sec.ip != nil && s.sec.throttle.on() {
		sec.ip.authDone(failed, sec.authReserved)
	}
	sec.authReserved = false
}

// authFailed settles a failed authentication and returns the error that
// closes the connection, wrapping ErrAuthFailed unless err does.
func (s *Server) authFailed(c *Conn, err error) error {
	s.authSettled(c, true)
	if !errors.Is(err, ErrAuthFailed) {
		err = &wrapError{kind: ErrAuthFailed, err: err}
	}
	return engine.Close(CloseAuthFailed, err)
}
