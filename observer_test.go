package binproto_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// eventLog is an Observer that keeps every event, and marks the context of
// each message in StartMessage so that the tests can see it reach the
// handler and ObserveMessage.
type eventLog struct {
	mu       sync.Mutex
	msgs     []binproto.MessageEvent
	conns    []binproto.ConnEvent
	unmarked int // ObserveMessage calls whose context StartMessage did not return
}

type markKey struct{}

func (r *eventLog) StartMessage(ctx context.Context, info binproto.MessageInfo) context.Context {
	return context.WithValue(ctx, markKey{}, info)
}

func (r *eventLog) ObserveMessage(ctx context.Context, ev binproto.MessageEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if info, _ := ctx.Value(markKey{}).(binproto.MessageInfo); info != ev.MessageInfo {
		r.unmarked++
	}
	r.msgs = append(r.msgs, ev)
}

func (r *eventLog) ObserveConn(ev binproto.ConnEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, ev)
}

// count returns the number of message events matching f.
func (r *eventLog) count(f func(ev binproto.MessageEvent) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.msgs {
		if f(ev) {
			n++
		}
	}
	return n
}

// connKinds counts the connection events by kind and, for closes and
// rejections, by reason ("closed/peer").
func (r *eventLog) connKinds() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, ev := range r.conns {
		k := ev.Kind.String()
		if ev.Reason != "" {
			k += "/" + string(ev.Reason)
		}
		m[k]++
	}
	return m
}

// byOutcome counts the message events of one side by "direction type outcome".
func (r *eventLog) byOutcome(side binproto.Side) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, ev := range r.msgs {
		if ev.Side == side {
			m[fmt.Sprintf("%v %d %v", ev.Direction, ev.Type, ev.Outcome)]++
		}
	}
	return m
}

// observedServer returns a server of a known mix of outcomes: sensor
// readings echoed, Status answered but failing on code 500, Benchmark with
// no handler (NOT_FOUND), FixedBenchmark a sink; 5 messages per connection,
// then a Status 429 reply for each message over the rate limit.
func observedServer(t *testing.T, obs binproto.Observer) (*binproto.Protocol, string) {
	p := quickProto(t, func(c *binproto.Config) {
		c.Replies = map[binproto.MessageType][]binproto.MessageType{SensorData: {SensorData, Status}}
	})
	srv := &binproto.Server{Protocol: p, Observer: obs}
	srv.RateLimit = binproto.RateLimit{
		ConnMessageRate: 0.01, Burst: 500 * time.Second, // 5 messages, then 1 per 100 s
		OnExceed: binproto.Refusal{Action: binproto.ActionReply, Reply: func(*binproto.Message, error) binproto.Outgoing {
			return statusMsg(429, "slow down")
		}},
	}
	binproto.HandleTyped(srv, SensorData, sensorCodec, func(ctx context.Context, _ *binproto.Conn, s *sensor) (binproto.Outgoing, error) {
		if info, _ := ctx.Value(markKey{}).(binproto.MessageInfo); info.Type != SensorData || info.Side != binproto.SideServer {
			return binproto.NoReply, errors.New("the handler's context is not the one StartMessage returned")
		}
		return binproto.Typed(SensorData, sensorCodec, s), nil
	})
	binproto.HandleTyped(srv, Status, statusCodec, func(_ context.Context, _ *binproto.Conn, s *status) (binproto.Outgoing, error) {
		if s.Code == 500 {
			return binproto.NoReply, errors.New("status 500")
		}
		return binproto.Typed(Status, statusCodec, s), nil
	})
	binproto.HandleTyped(srv, FixedBenchmark, fixedCodec, func(context.Context, *binproto.Conn, *fixedBench) (binproto.Outgoing, error) {
		return binproto.NoReply, nil
	})
	addr, _ := serveTCP(t, srv)
	return p, addr
}

// TestObserverEvents sends a known mix of messages and checks that both
// sides' observers are told of each, with its outcome, and of every
// connection event.
func TestObserverEvents(t *testing.T) {
	checkGoroutines(t)
	srvObs, clObs := &eventLog{}, &eventLog{}
	p, addr := observedServer(t, srvObs)
	ctx := testCtx(t, 10*time.Second)
	opts := &binproto.ClientOptions{Observer: clObs}
	in := sensor{1, 2, 3, 4}
	var out sensor

	c1 := dial(t, p, addr, opts)
	for range 2 {
		if _, err := binproto.RequestTyped(ctx, c1, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &out); err != nil {
			t.Fatal(err)
		}
	}
	var nf *binproto.NotFoundError
	if _, err := c1.Request(ctx, binproto.Typed(Benchmark, benchCodec, &benchData{Data: []byte("x")})); !errors.As(err, &nf) {
		t.Fatalf("Benchmark request: %v, want a *NotFoundError", err)
	}
	if err := c1.Send(ctx, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{7})); err != nil {
		t.Fatal(err)
	}
	if err := binproto.SendBatchTyped(ctx, c1, FixedBenchmark, fixedCodec, []fixedBench{{1}}); err != nil {
		t.Fatal(err)
	}

	c2 := dial(t, p, addr, opts)
	limited := 0
	for range 7 {
		rt, err := binproto.RequestTyped(ctx, c2, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &out)
		if errors.Is(err, binproto.ErrStructureMismatch) && rt == Status {
			limited++ // the 429 reply, which does not decode as a sensor reading
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if limited != 2 {
		t.Fatalf("%d requests rate limited, want 2", limited)
	}

	c3 := dial(t, p, addr, opts)
	if _, err := c3.Request(ctx, statusMsg(500, "fail")); !errors.Is(err, binproto.ErrConnClosed) {
		t.Fatalf("failing request: %v, want ErrConnClosed", err)
	}
	for _, c := range []*binproto.Client{c1, c2, c3} {
		c.Close()
	}

	wantServer := map[string]int{
		"in 1 ok":           7,
		"in 1 rate_limited": 2,
		"in 3 not_found":    1,
		"in 4 ok":           2,
		"in 2 internal":     1,
	}
	waitFor(t, 5*time.Second, "the server's events", func() bool {
		return fmt.Sprint(srvObs.byOutcome(binproto.SideServer)) == fmt.Sprint(wantServer) &&
			srvObs.connKinds()["closed/peer"] == 2
	})
	wantConns := map[string]int{"opened": 3, "rate_limited": 2, "closed/peer": 2, "closed/handler_error": 1}
	if got := srvObs.connKinds(); fmt.Sprint(got) != fmt.Sprint(wantConns) {
		t.Errorf("server connection events %v, want %v", got, wantConns)
	}
	wantClient := map[string]int{
		"out 1 ok":          7,
		"out 1 invalid":     2, // the 429 replies, which do not decode as sensor readings
		"out 3 not_found":   1,
		"out 4 ok":          2,
		"out 2 unavailable": 1,
	}
	if got := clObs.byOutcome(binproto.SideClient); fmt.Sprint(got) != fmt.Sprint(wantClient) {
		t.Errorf("client message events %v, want %v", got, wantClient)
	}
	if got := clObs.connKinds(); got["opened"] != 3 || got["closed/local"]+got["closed/peer"] != 3 {
		t.Errorf("client connection events %v, want 3 opened and 3 closed", got)
	}
	if srvObs.unmarked+clObs.unmarked != 0 {
		t.Errorf("%d events without the context StartMessage returned", srvObs.unmarked+clObs.unmarked)
	}
	// A sensor reading is 18 bytes each way (2-byte type + 16).
	sized := func(ev binproto.MessageEvent) bool {
		return ev.Type == SensorData && ev.Outcome == binproto.OutcomeOK && ev.Bytes == 18 &&
			ev.Replied && ev.ReplyType == SensorData && ev.ReplyBytes == 18 && ev.Latency >= 0
	}
	if n := srvObs.count(sized); n != 7 {
		t.Errorf("%d server sensor events with 18 bytes each way, want 7", n)
	}
	if n := clObs.count(sized); n != 7 {
		t.Errorf("%d client sensor events with 18 bytes each way, want 7", n)
	}
}

// TestOutcomeOf maps errors onto outcomes.
func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		err  error
		want binproto.Outcome
	}{
		{nil, binproto.OutcomeOK},
		{&binproto.NotFoundError{Type: 3}, binproto.OutcomeNotFound},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), binproto.OutcomeDeadlineExceeded},
		{context.Canceled, binproto.OutcomeCanceled},
		{binproto.ErrRateLimited, binproto.OutcomeRateLimited},
		{binproto.ErrAuthFailed, binproto.OutcomeUnauthenticated},
		{binproto.ErrInvalidMessage, binproto.OutcomeInvalid},
		{binproto.ErrRange, binproto.OutcomeInvalid},
		{binproto.ErrStructureMismatch, binproto.OutcomeInvalid},
		{binproto.ErrConnClosed, binproto.OutcomeUnavailable},
		{binproto.ErrClientClosed, binproto.OutcomeUnavailable},
		{&binproto.UnexpectedReplyError{Request: 1, Reply: 2}, binproto.OutcomeInternal},
		{errors.New("anything else"), binproto.OutcomeInternal},
	}
	for _, tt := range tests {
		if got := binproto.OutcomeOf(tt.err); got != tt.want {
			t.Errorf("OutcomeOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	seen := map[string]bool{}
	for _, o := range binproto.Outcomes {
		if s := o.String(); s == "unknown" || seen[s] {
			t.Errorf("outcome %d named %q", o, s)
		} else {
			seen[s] = true
		}
	}
}

// TestObservers: a list of observers tells each, and chains contexts.
func TestObservers(t *testing.T) {
	a, b := &eventLog{}, &eventLog{}
	obs := binproto.Observers(a, nil, b)
	info := binproto.MessageInfo{Side: binproto.SideClient, Direction: binproto.DirectionOut, Type: 1}
	ctx := obs.(binproto.MessageStarter).StartMessage(context.Background(), info)
	obs.ObserveMessage(ctx, binproto.MessageEvent{MessageInfo: info})
	obs.ObserveConn(binproto.ConnEvent{Kind: binproto.ConnOpened})
	for _, r := range []*eventLog{a, b} {
		if len(r.msgs) != 1 || len(r.conns) != 1 || r.unmarked != 0 {
			t.Errorf("observer told of %d messages (%d unmarked) and %d connection events, want 1, 0, 1", len(r.msgs), r.unmarked, len(r.conns))
		}
	}
}
