package binproto

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/wire"
)

// This file joins authentication (auth.go), rate limiting (ratelimit.go)
// and validation (validate.go) to the dispatch of frames: Server.screen
// runs before every frame of a TCP or TLS connection is dispatched, and
// Server.screenPacket before every datagram.

// serverSec is a server's security state, derived from its fields on first
// use (the fields must not change once serving has begun).
type serverSec struct {
	once         sync.Once
	authTimeout  time.Duration // 0: none
	preAuthBytes int
	connRate     bool         // per-connection buckets needed
	ips          *ipTable     // per-IP state, or nil
	ipRates      bool         // frames are charged to their address
	throttle     authThrottle // of failed authentications (auththrottle.go)
	perConn      bool         // connections need a connSec
	validators   validatorSet
	logs         closeLog  // samples the log lines of closes (logsample.go)
	counts       secCounts // the Stats counters of this file's concerns
}

// secCounts are the counters of authentication and its throttling.
type secCounts struct {
	authFailures, authThrottled, authDelayed atomic.Uint64
}

// addStats adds the security counters to st.
func (ss *serverSec) addStats(st *Stats) {
	st.AuthFailures = ss.counts.authFailures.Load()
	st.AuthThrottled = ss.counts.authThrottled.Load()
	st.AuthDelayed = ss.counts.authDelayed.Load()
}

// timeNow is the clock of the rate limiters.
var timeNow = time.Now

// secInit resolves the security settings once.
func (s *Server) secInit() {
	s.sec.once.Do(func() {
		ss := &s.sec
		ss.authTimeout = s.AuthTimeout
		switch {
		case ss.authTimeout == 0:
			ss.authTimeout = DefaultAuthTimeout
		case ss.authTimeout < 0:
			ss.authTimeout = 0
		}
		ss.preAuthBytes = s.MaxPreAuthBytes
		if ss.preAuthBytes <= 0 {
			ss.preAuthBytes = DefaultMaxPreAuthBytes
		}
		ss.connRate = s.RateLimit.connLimited()
		if s.Auth != nil {
			ss.throttle = s.AuthFailures.resolve()
		}
		if s.RateLimit.ipLimited() || ss.throttle.on() {
			ss.ips = newIPTable(&s.RateLimit, ss.throttle)
		}
		ss.ipRates = s.RateLimit.ipRated()
		ss.perConn = s.Auth != nil || ss.connRate || ss.ips != nil
	})
}

// secAdmit gives a new TCP connection its security state, counting it
// against its address's connection limits. A connection over a limit, or
// whose address is throttled for failed authentications, is closed at
// once, counted as rejected (CloseLimit, or CloseAuthFailed), and false is
// returned. It runs on the accept loop: it never waits.
func (s *Server) secAdmit(c *Conn) bool {
	s.secInit()
	if !s.sec.perConn {
		return true
	}
	sec := &connSec{authOn: s.Auth != nil}
	if s.sec.ips != nil {
		if key, ok := ipKey(c.RemoteAddr()); ok {
			e, adm := s.sec.ips.acquire(key, s.RateLimit.MaxConnsPerIP)
			switch {
			case adm == overConns:
				return s.reject(c, CloseLimit, "binproto: too many connections from one address")
			case adm == overConnRate:
				return s.reject(c, CloseLimit, "binproto: connections from one address too frequent")
			case s.throttled(c, e): // auththrottle.go
				s.sec.ips.release(e)
				return s.reject(c, CloseAuthFailed, "binproto: authentication throttled; connection refused")
			}
			sec.ip = e
		}
	}
	if s.sec.connRate {
		sec.rate = s.newRateState()
	}
	c.sec = sec
	return true
}

// reject closes a connection secAdmit refuses, counting it and logging msg.
func (s *Server) reject(c *Conn, reason CloseReason, msg string) bool {
	s.stats.Rejected.Add(1)
	s.stats.Closed(reason)
	c.observeConn(ConnRejected, reason, nil)
	c.e.NetConn().Close()
	c.logClose(slog.LevelInfo, msg, reason, "remote", c.RemoteAddr())
	return false
}

func (s *Server) newRateState() *rateState {
	now, bs := timeNow(), s.RateLimit.burstSeconds()
	return &rateState{
		msgs:  newBucket(s.RateLimit.ConnMessageRate, bs, now),
		bytes: newBucket(s.RateLimit.ConnByteRate, bs, now),
	}
}

// secClosed releases what secAdmit and secStart took; it runs once per
// connection that secAdmit admitted, after its read loop.
func (s *Server) secClosed(c *Conn) {
	sec := c.sec
	if sec == nil {
		return
	}
	if sec.stopTimer != nil {
		sec.stopTimer()
	}
	if sec.ip != nil {
		s.sec.ips.release(sec.ip)
		sec.ip = nil
	}
}

// screen runs before a frame is dispatched, over TCP, TLS and UDP alike: a
// frame that arrives before the connection has authenticated goes to the
// authenticator; then the rate limits and the type's validator apply. done
// reports that the frame was consumed here (err, if not nil, closes the
// connection).
func (s *Server) screen(c *Conn, fr wire.Frame) (done bool, err error) {
	if c.sec.pendingAuth() {
		return true, s.authFrame(c, fr)
	}
	if !s.allowFrame(c, fr.Len) {
		cause := fmt.Errorf("%w: message type %d from %v", ErrRateLimited, fr.Type, c.RemoteAddr())
		return true, s.refuse(c, fr, &s.RateLimit.OnExceed, cause, CloseRateLimit)
	}
	if v := s.sec.validators.lookup(MessageType(fr.Type)); v != nil {
		c.msg = Message{Type: MessageType(fr.Type), Payload: fr.Payload, Conn: c, proto: c.proto}
		verr := validate(v, &c.msg)
		c.msg.Payload = nil
		if verr != nil {
			s.stats.Invalid.Add(1)
			return true, s.refuse(c, fr, &s.OnInvalid, verr, CloseInvalid)
		}
	}
	return false, nil
}

// allowFrame charges a frame of n bytes from c to the rate limits, and
// reports whether it is within them; one that is not is counted in
// RateLimited. A UDP peer's address is looked up per datagram: it holds no
// connection slot in the address table.
func (s *Server) allowFrame(c *Conn, n int) bool {
	sec := c.sec
	if sec == nil || (sec.rate == nil && !s.sec.ipRates) {
		return true // (an address's entry may be there for other limits)
	}
	var ip *ipEntry
	switch {
	case !s.sec.ipRates:
	case c.datagram:
		if key, ok := ipKey(c.RemoteAddr()); ok {
			ip = s.sec.ips.lookup(key, timeNow())
		}
	default:
		ip = sec.ip
	}
	if !allowFrame(sec.rate, ip, n, !c.datagram) {
		s.stats.RateLimited.Add(1)
		return false
	}
	return true
}

// chargeArrived charges n bytes read from c's stream to its byte rates as
// they arrive (before authentication only the pre-auth budget applies).
func (s *Server) chargeArrived(c *Conn, n int) {
	sec := c.sec
	if sec == nil || sec.pendingAuth() || (sec.rate == nil && !s.sec.ipRates) {
		return
	}
	var ip *ipEntry
	if s.sec.ipRates {
		ip = sec.ip
	}
	chargeBytes(sec.rate, ip, n)
}

// refuse handles a refused frame as r says. Over UDP, where there is no
// connection to close, ActionClose drops the datagram.
func (s *Server) refuse(c *Conn, fr wire.Frame, r *Refusal, cause error, reason CloseReason) error {
	c.observeRefused(fr, r, cause, reason)
	switch {
	case r.Action == ActionDrop:
		return nil
	case r.Action == ActionReply && r.Reply != nil:
		return s.run(c, refusalHandler{reply: r.Reply, cause: cause}, fr)
	case c.datagram:
		return nil
	}
	c.logClose(slog.LevelInfo, "binproto: message refused; closing", reason, "remote", c.RemoteAddr(), "err", cause)
	return engine.Close(reason, cause)
}

// refusalHandler answers a refused message in its turn, so that replies
// stay in request order.
type refusalHandler struct {
	reply func(*Message, error) Outgoing
	cause error
}

func (h refusalHandler) ServeMessage(_ context.Context, m *Message) (Outgoing, error) {
	return h.reply(m, h.cause), nil
}

// checkPacket refuses to serve datagrams for a server with an
// Authenticator: UDP has no connection to authenticate.
func (s *Server) checkPacket() error {
	s.secInit()
	if s.Auth != nil {
		return &ConfigError{Option: "Server.Auth", Reason: "UDP cannot authenticate; serve datagrams with a server that has no Authenticator"}
	}
	return nil
}

// checkAuth refuses, before serving, a built-in Authenticator whose
// configuration cannot authenticate anyone with the server's Protocol (a
// message type that is not set, or not in its Config.Types, say).
func (s *Server) checkAuth() error {
	a, ok := s.Auth.(interface{ checkConfig(*Protocol) error })
	if !ok {
		return nil
	}
	if err := a.checkConfig(s.Protocol); err != nil {
		return &ConfigError{Option: "Server.Auth", Reason: err.Error()}
	}
	return nil
}

// secPacket gives a new UDP peer its rate-limit state.
func (s *Server) secPacket(c *Conn) {
	s.secInit()
	c.sec = &connSec{}
	if s.sec.connRate {
		c.sec.rate = s.newRateState()
	}
}

// guardPacket wraps h, the handler of a datagram of n bytes, so that a
// reply larger than the request is dropped, unless AllowUDPAmplification
// is set.
func (s *Server) guardPacket(c *Conn, h Handler, n int) Handler {
	if s.AllowUDPAmplification {
		return h
	}
	return &udpGuard{s: s, h: h, limit: n}
}

// udpGuard runs a handler for a datagram and drops its reply when it is
// larger than the request, so that the server cannot be used to amplify
// traffic towards a spoofed source address.
type udpGuard struct {
	s     *Server
	h     Handler
	limit int // size of the request datagram
}

func (g *udpGuard) ServeMessage(ctx context.Context, m *Message) (Outgoing, error) {
	out, err := g.h.ServeMessage(ctx, m)
	if err != nil || !out.ok {
		return out, err
	}
	if _, ok := out.enc.(preEncoded); !ok {
		if out, err = m.encodeNow(out); err != nil {
			return NoReply, err
		}
	}
	if n := len(*m.replyBuf); n > g.limit {
		g.s.stats.AmplificationDrops.Add(1)
		g.s.logger().Debug("binproto: UDP reply larger than its request dropped", "to", m.Conn.RemoteAddr(), "reply", n, "request", g.limit)
		return NoReply, nil
	}
	return out, nil
}
