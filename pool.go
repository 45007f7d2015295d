package binproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/internal/engine"
)

// ConnState is the state of one of a Pool's connections, as reported to
// PoolOptions.OnStateChange.
type ConnState uint8

const (
	// StateConnecting: dialling the address and authenticating.
	StateConnecting ConnState = iota
	// StateReady: connected; the connection takes calls.
	StateReady
	// StateTransientFailure: the dial failed or the connection was lost;
	// it is dialled again after a back-off.
	StateTransientFailure
	// StateDraining: the address was removed; the connection takes no new
	// calls and closes once its calls are done.
	StateDraining
	// StateClosed: the pool closed, or the address was removed and its
	// connection drained. Final.
	StateClosed
)

// String returns "connecting", "ready", "transient failure", "draining"
// or "closed".
func (s ConnState) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateReady:
		return "ready"
	case StateTransientFailure:
		return "transient failure"
	case StateDraining:
		return "draining"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("ConnState(%d)", uint8(s))
}

// ErrUnavailable is the error of a Pool's call made while none of its
// connections is ready, at once with PoolOptions.FailFast, otherwise when
// its context ends first (the error then also matches the context's).
var ErrUnavailable = errors.New("binproto: no connection is ready")

// PoolOptions configure NewPool. The zero value of every field but the
// addresses works, with the defaults documented.
type PoolOptions struct {
	// Addrs are the servers' addresses (host:port): one address makes a
	// reconnecting client, several a client balancing over them (or over
	// several connections through one load balancer: see ConnsPerAddr).
	Addrs []string
	// Resolve, when set, returns the addresses, in place of Addrs: it is
	// called at once and then every ResolveEvery; addresses it adds get
	// connections, addresses it drops drain. An error, or an empty list,
	// keeps the addresses as they were. See ResolveDNS.
	Resolve func(ctx context.Context) ([]string, error)
	// ResolveEvery is the interval of Resolve. Default
	// DefaultResolveEvery.
	ResolveEvery time.Duration
	// ConnsPerAddr is the number of connections to each address. Default
	// 1; more spreads the calls of one pool over the servers behind an L4
	// load balancer, which sends each connection to one server.
	ConnsPerAddr int
	// Client configures every connection: TLS, Auth (run again on each new
	// connection), push Handlers (kept across reconnections), Observer,
	// Keepalive. The pool reads every connection all the time (AlwaysRead),
	// to notice a dead server or a goaway at once.
	Client ClientOptions
	// Compatible makes the pool speak the compatible profile. By default
	// it speaks the native profile, whatever Client.Profile says: only the
	// native profile tells which requests a server did not process (its
	// goaway and not-processed errors), so that they can be sent again.
	Compatible bool
	// Backoff spaces the dials of an address that failed.
	Backoff Backoff
	// OnStateChange, when set, is told of each state a connection enters;
	// it is called in order for one connection, concurrently for several,
	// and must not block.
	OnStateChange func(addr string, s ConnState)
	// FailFast makes a call made while no connection is ready fail at once
	// with ErrUnavailable; by default it waits for one until its context
	// ends.
	FailFast bool
	// MaxAttempts bounds how many times one call is sent (see Pool).
	// Default DefaultMaxAttempts.
	MaxAttempts int
	// Dial, when set, replaces Dial(ctx, p, addr, &opts) for each
	// connection, opts being Client with the profile and AlwaysRead set as
	// above (a test counts attempts with it; a program may dial some other
	// way). ctx ends when the pool closes.
	Dial func(ctx context.Context, addr string, opts *ClientOptions) (*Client, error)
}

// Defaults of PoolOptions.
const (
	DefaultResolveEvery = 30 * time.Second
	DefaultMaxAttempts  = 5
)

// ResolveDNS returns a PoolOptions.Resolve that looks host up with
// net.DefaultResolver and returns each of its addresses with port: a DNS
// name with several records, as a Kubernetes headless service gives, makes
// one endpoint each.
func ResolveDNS(host, port string) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		addrs := make([]string, len(ips))
		for i, ip := range ips {
			addrs[i] = net.JoinHostPort(ip, port)
		}
		return addrs, nil
	}
}

// Pool is a client over one or several servers that keeps a connection to
// each (ConnsPerAddr of them), redials them with back-off, and spreads
// calls over the ready ones by the power of two choices: of two
// connections drawn at random, the one with fewer calls outstanding. It is
// safe for concurrent use.
//
// A connection is dialled, authenticated (ClientOptions.Auth) and marked
// ready; when it is lost it is dialled again, at once if it had lived
// longer than the back-off's initial wait, otherwise after the back-off.
// At a server's goaway (its Shutdown, or NativeOptions.MaxConnectionAge)
// the connection takes no new calls and a new one is dialled at once,
// while the old one finishes the calls the server accepted.
//
// A call is sent again, on another connection if one is ready, when and
// only when it is safe: it was never written (the connection was lost, or
// went away, before); or the server said it did not process it (an *Error
// whose Retryable reports true: a goaway, draining, overloaded, rate
// limited); or the context is marked Idempotent and the connection was
// lost with the call in flight, or the server cancelled it (a server's
// Close cancels its handlers) or answered CodeUnavailable. Never otherwise: a non-idempotent call
// lost in flight fails with an error wrapping ErrConnClosed, which may
// have been processed. A call is sent at most MaxAttempts times, and not
// after its context ends. Calls are never reordered by the pool beyond
// what concurrency implies: each call is one request at a time.
type Pool struct {
	proto *Protocol
	opts  PoolOptions
	copts ClientOptions // the options of every connection

	ctx    context.Context // ends at Close: dials stop
	cancel context.CancelFunc
	tasks  engine.Tasks

	mu    sync.Mutex
	slots map[string][]*slot // by address
	wake  chan struct{}      // closed when a connection becomes ready
	live  atomic.Pointer[[]*slot]
	shut  atomic.Bool
}

// slot is one connection of a pool to one address, redialled by its own
// goroutine (run).
type slot struct {
	pool        *Pool
	addr        string
	cl          atomic.Pointer[Client] // the ready client; nil when not ready
	state       atomic.Uint32          // a ConnState
	outstanding atomic.Int64           // calls running on it
	calls       atomic.Uint64          // calls sent on it
	retried     atomic.Uint64          // calls that failed on it and went again
	removed     chan struct{}          // closed when its address is removed
	removing    atomic.Bool
	idle        chan struct{} // signalled when outstanding drops to 0 while removing

	mu       sync.Mutex
	draining []*Client // clients gone away, finishing their calls
}

// NewPool starts a pool over opts.Addrs (or what opts.Resolve returns):
// it returns at once, and dials in the background. Stop it with Close.
func NewPool(p *Protocol, opts PoolOptions) (*Pool, error) {
	if len(opts.Addrs) == 0 && opts.Resolve == nil {
		return nil, &ConfigError{Option: "PoolOptions.Addrs", Reason: "no address and no Resolve"}
	}
	if p.cfg.Transport == UDP {
		return nil, &ConfigError{Option: "PoolOptions", Reason: "a pool runs over streams only (TCP, TLS)"}
	}
	pl := &Pool{proto: p, opts: opts, slots: make(map[string][]*slot), wake: make(chan struct{})}
	pl.copts = opts.Client
	pl.copts.AlwaysRead = true
	pl.copts.Profile = ProfileNative
	if opts.Compatible {
		pl.copts.Profile = ProfileCompatible
	}
	pl.ctx, pl.cancel = context.WithCancel(context.Background())
	pl.live.Store(&[]*slot{})
	if opts.Resolve != nil {
		pl.tasks.Go(pl.resolveLoop)
	} else {
		pl.SetAddrs(opts.Addrs)
	}
	return pl, nil
}

// resolveLoop calls Resolve at once and then every ResolveEvery, until
// the pool closes.
func (pl *Pool) resolveLoop() {
	every := pl.opts.ResolveEvery
	if every <= 0 {
		every = DefaultResolveEvery
	}
	for {
		addrs, err := pl.opts.Resolve(pl.ctx)
		switch {
		case pl.ctx.Err() != nil:
			return
		case err != nil:
			pl.logger().Warn("binproto: pool: resolving the addresses failed", "err", err)
		case len(addrs) > 0:
			pl.SetAddrs(addrs)
		}
		if !sleepCtx(pl.ctx, nil, every) {
			return
		}
	}
}

// SetAddrs replaces the pool's addresses: new ones get connections,
// removed ones drain (no new calls; the calls in flight finish, then the
// connections close). A pool with Resolve calls it itself.
func (pl *Pool) SetAddrs(addrs []string) {
	per := max(pl.opts.ConnsPerAddr, 1)
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.shut.Load() {
		return // no goroutine starts once Close waits for them
	}
	keep := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		keep[a] = true
		if _, ok := pl.slots[a]; ok {
			continue
		}
		ss := make([]*slot, per)
		for i := range ss {
			ss[i] = &slot{pool: pl, addr: a, removed: make(chan struct{}), idle: make(chan struct{}, 1)}
			pl.tasks.Go(ss[i].run)
		}
		pl.slots[a] = ss
	}
	for a, ss := range pl.slots {
		if keep[a] {
			continue
		}
		for _, s := range ss {
			s.removing.Store(true)
			close(s.removed)
		}
		delete(pl.slots, a)
	}
	live := make([]*slot, 0, len(pl.slots)*per)
	for _, ss := range pl.slots {
		live = append(live, ss...)
	}
	pl.live.Store(&live)
}

// Close closes every connection and stops the pool's goroutines; calls
// still running fail with ErrClientClosed, as do later ones. Safe to call
// more than once.
func (pl *Pool) Close() error {
	pl.mu.Lock()
	already := pl.shut.Swap(true)
	pl.mu.Unlock()
	if already {
		return nil
	}
	pl.cancel()
	pl.tasks.Wait()
	return nil
}

// EndpointStats describes one connection of a Pool.
type EndpointStats struct {
	Addr        string    // the address it dials
	State       ConnState // its state
	Outstanding int       // calls running on it
	Calls       uint64    // calls sent on it since its address was added
	Retried     uint64    // calls that failed on it and were sent again
}

// Endpoints returns the state of each of the pool's connections, by
// address.
func (pl *Pool) Endpoints() []EndpointStats {
	live := *pl.live.Load()
	out := make([]EndpointStats, len(live))
	for i, s := range live {
		out[i] = EndpointStats{Addr: s.addr, State: ConnState(s.state.Load()), Outstanding: int(s.outstanding.Load()), Calls: s.calls.Load(), Retried: s.retried.Load()}
	}
	slices.SortStableFunc(out, func(a, b EndpointStats) int {
		switch {
		case a.Addr < b.Addr:
			return -1
		case a.Addr > b.Addr:
			return 1
		}
		return 0
	})
	return out
}

// Request sends out on one of the pool's connections and waits for its
// reply, as Client.Request does, sending it again as Pool describes.
func (pl *Pool) Request(ctx context.Context, out Outgoing) (*Message, error) {
	var m *Message
	err := pl.do(ctx, func(cl *Client) (sent bool, err error) {
		m, sent, err = cl.request(ctx, out)
		return sent, err
	})
	return m, err
}

// PoolRequestTyped is RequestTyped over a Pool: it sends out on one of the
// pool's connections and decodes the reply into resp with codec c, sending
// it again as Pool describes.
func PoolRequestTyped[T any](ctx context.Context, pl *Pool, out Outgoing, c *Codec[T], resp *T) (MessageType, error) {
	var t MessageType
	err := pl.do(ctx, func(cl *Client) (sent bool, err error) {
		t, sent, err = requestTyped(ctx, cl, out, c, resp)
		return sent, err
	})
	return t, err
}

// Send sends a one-way message on one of the pool's connections, as
// Client.Send does; a message that could not be queued on a connection
// (lost meanwhile) is queued on another.
func (pl *Pool) Send(ctx context.Context, out Outgoing) error {
	return pl.do(ctx, func(cl *Client) (bool, error) { return false, cl.Send(ctx, out) })
}

// do runs call on the connection chosen for it, again on another while the
// error allows it (see Pool).
func (pl *Pool) do(ctx context.Context, call func(cl *Client) (sent bool, err error)) error {
	idem := IsIdempotent(ctx)
	attempts := pl.opts.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	var err error
	for n := range attempts {
		s, cl, perr := pl.pick(ctx)
		if perr != nil {
			if err != nil {
				return fmt.Errorf("%w (after: %w)", perr, err)
			}
			return perr
		}
		s.calls.Add(1)
		var sent bool
		sent, err = call(cl)
		s.done()
		if err == nil || !retryable(err, sent, idem) || ctx.Err() != nil {
			return err
		}
		if pl.shut.Load() {
			return ErrClientClosed
		}
		s.retried.Add(1)
		if s.cl.Load() == cl && cl.available() {
			// Refused by a server still ready (rate limited, overloaded):
			// back off before asking again.
			if !sleepCtx(ctx, pl.ctx.Done(), pl.opts.Backoff.Delay(n)) {
				return err
			}
		}
	}
	return err
}

// retryable reports whether a call that failed with err may be sent again:
// see Pool.
func retryable(err error, sent, idempotent bool) bool {
	if errors.Is(err, ErrConnClosed) || errors.Is(err, ErrClientClosed) {
		return !sent || idempotent
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	// A server that closes cancels the handlers it runs: to an idempotent
	// call that is the loss of its connection.
	return e.Retryable() || idempotent && (e.Code == CodeCanceled || e.Code == CodeUnavailable)
}

// pick chooses a ready connection by the power of two choices and counts
// a call on it, waiting for one unless FailFast.
func (pl *Pool) pick(ctx context.Context) (*slot, *Client, error) {
	for {
		if pl.shut.Load() {
			return nil, nil, ErrClientClosed
		}
		if s, cl := pl.choose(); s != nil {
			return s, cl, nil
		}
		if pl.opts.FailFast {
			return nil, nil, ErrUnavailable
		}
		pl.mu.Lock()
		wake := pl.wake
		pl.mu.Unlock()
		if s, cl := pl.choose(); s != nil { // became ready before wake was taken
			return s, cl, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		case <-pl.ctx.Done():
		}
	}
}

// choose returns the less busy of two ready connections drawn at random,
// with a call counted on it, or nil when none is ready.
func (pl *Pool) choose() (*slot, *Client) {
	live := *pl.live.Load()
	var buf [64]*slot
	ready := buf[:0]
	for _, s := range live {
		if cl := s.cl.Load(); cl != nil && !s.removing.Load() && cl.available() {
			ready = append(ready, s)
		}
	}
	for len(ready) > 0 {
		i := rand.IntN(len(ready))
		if len(ready) > 1 {
			j := rand.IntN(len(ready) - 1)
			if j >= i {
				j++
			}
			if ready[j].outstanding.Load() < ready[i].outstanding.Load() {
				i = j
			}
		}
		s := ready[i]
		// Counted first, then checked: a slot that starts draining either
		// sees this call or is seen draining here.
		s.outstanding.Add(1)
		if cl := s.cl.Load(); cl != nil && !s.removing.Load() && cl.available() {
			return s, cl
		}
		s.done()
		ready = slices.Delete(ready, i, i+1)
	}
	return nil, nil
}

// available reports whether cl takes calls: its connection is open and
// its server has not said goaway (the pool's goroutine for it may not have
// noticed yet).
func (cl *Client) available() bool {
	select {
	case <-cl.awayc: // nil on the compatible profile: never ready
		return false
	default:
	}
	return !cl.conn.e.Ended()
}

// wakeWaiters wakes the calls waiting for a ready connection.
func (pl *Pool) wakeWaiters() {
	pl.mu.Lock()
	close(pl.wake)
	pl.wake = make(chan struct{})
	pl.mu.Unlock()
}

func (pl *Pool) logger() *slog.Logger {
	if l := pl.copts.Logger; l != nil {
		return l
	}
	return discardLogger
}

// done uncounts a call, waking a draining slot when it was the last.
func (s *slot) done() {
	if s.outstanding.Add(-1) == 0 && s.removing.Load() {
		select {
		case s.idle <- struct{}{}:
		default:
		}
	}
}

func (s *slot) setState(st ConnState) {
	s.state.Store(uint32(st))
	if f := s.pool.opts.OnStateChange; f != nil {
		f(s.addr, st)
	}
}

// dial makes one connection to s's address.
func (s *slot) dial() (*Client, error) {
	pl := s.pool
	opts := pl.copts
	if pl.opts.Dial != nil {
		return pl.opts.Dial(pl.ctx, s.addr, &opts)
	}
	return Dial(pl.ctx, pl.proto, s.addr, &opts)
}

// Why a ready connection stopped being used.
const (
	endLost    = iota // the connection was lost
	endAway           // the server's goaway
	endRemoved        // the address was removed
	endClosed         // the pool closed
)

// run keeps s connected until the pool closes or s's address is removed.
func (s *slot) run() {
	pl := s.pool
	attempt := 0
	defer s.closeDraining()
	for {
		s.setState(StateConnecting)
		cl, err := s.dial()
		if err != nil {
			if pl.ctx.Err() != nil || s.removing.Load() {
				s.setState(StateClosed)
				return
			}
			pl.logger().Warn("binproto: pool: dial failed", "addr", s.addr, "attempt", attempt+1, "err", err)
			s.setState(StateTransientFailure)
			if !sleepCtx(pl.ctx, s.removed, pl.opts.Backoff.Delay(attempt)) {
				s.setState(StateClosed)
				return
			}
			attempt++
			continue
		}
		start := time.Now()
		s.cl.Store(cl)
		s.setState(StateReady)
		pl.wakeWaiters()
		why := s.watch(cl)
		s.cl.Store(nil)
		switch why {
		case endAway:
			s.addDraining(cl)
			attempt = 0
			continue
		case endRemoved:
			s.setState(StateDraining)
			s.drain()
			cl.Close()
			s.setState(StateClosed)
			return
		case endClosed:
			cl.Close()
			s.setState(StateClosed)
			return
		}
		cl.Close()
		s.setState(StateTransientFailure)
		if time.Since(start) > pl.opts.Backoff.delay(0, 0.5) {
			attempt = 0
			continue
		}
		if !sleepCtx(pl.ctx, s.removed, pl.opts.Backoff.Delay(attempt)) {
			s.setState(StateClosed)
			return
		}
		attempt++
	}
}

// watch waits until cl must no longer be used, and says why.
func (s *slot) watch(cl *Client) int {
	select {
	case <-cl.Conn().Done():
		return endLost
	case <-cl.awayc: // nil (never ready) on the compatible profile
		return endAway
	case <-s.removed:
		return endRemoved
	case <-s.pool.ctx.Done():
		return endClosed
	}
}

// drain waits until the calls running on s are done, or the pool closes.
func (s *slot) drain() {
	for s.outstanding.Load() > 0 {
		select {
		case <-s.idle:
		case <-s.pool.ctx.Done():
			return
		}
	}
}

// addDraining keeps cl, gone away, until its calls are done: the server
// then closes it. Clients already closed are forgotten.
func (s *slot) addDraining(cl *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = slices.DeleteFunc(s.draining, func(c *Client) bool {
		select {
		case <-c.Conn().Done():
			c.Close()
			return true
		default:
			return false
		}
	})
	s.draining = append(s.draining, cl)
}

// closeDraining closes the clients gone away that are still open.
func (s *slot) closeDraining() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.draining {
		c.Close()
	}
	s.draining = nil
}

// sleepCtx waits for d; it reports false, early, when ctx ends or stop
// closes.
func sleepCtx(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}

type idempotentKey struct{}

// Idempotent marks ctx's calls as idempotent: a Pool sends such a call
// again, elsewhere, when its connection is lost while it is in flight
// (the server may have processed it). Mark only calls whose effect is the
// same done twice.
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// IsIdempotent reports whether ctx was marked by Idempotent.
func IsIdempotent(ctx context.Context) bool {
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}
