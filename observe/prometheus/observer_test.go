package binprom_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/binproto/binproto"
	binprom "github.com/binproto/binproto/observe/prometheus"
	"github.com/binproto/binproto/schema"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	Reading binproto.MessageType = 1 // echoed
	Command binproto.MessageType = 2 // fails on code 500
	Missing binproto.MessageType = 3 // no handler: NOT_FOUND
	Log     binproto.MessageType = 4 // one-way
	Refused binproto.MessageType = 5 // the reply to a rate-limited reading
)

type reading struct {
	A float32 `binproto:"a,>f"`
	B float32 `binproto:"b,>f"`
}

type command struct {
	Code uint32 `binproto:"code,>I"`
}

var (
	readingCodec = schema.MustCodec[reading]()
	commandCodec = schema.MustCodec[command]()
)

func protocol(t testing.TB) *binproto.Protocol {
	p, err := binproto.NewProtocol(binproto.Config{
		Types: map[binproto.MessageType]*binproto.Structure{
			Reading: readingCodec.Structure(), Command: commandCodec.Structure(),
			Missing: commandCodec.Structure(), Log: commandCodec.Structure(), Refused: commandCodec.Structure(),
		},
		Replies: map[binproto.MessageType][]binproto.MessageType{Reading: {Reading, Refused}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve starts a server of p with observer obs (nil: none) and the rate
// limit given (0: none; over it a message is answered with Refused), and
// returns its address; it is closed when the test ends.
func serve(t testing.TB, p *binproto.Protocol, obs binproto.Observer, burst int) string {
	srv := &binproto.Server{Protocol: p}
	if obs != nil {
		srv.Observer = obs
	}
	if burst > 0 {
		srv.RateLimit = binproto.RateLimit{
			ConnMessageRate: 0.001, Burst: time.Duration(burst) * 1000 * time.Second, // burst messages, then 1 per 1000 s
			OnExceed: binproto.Refusal{Action: binproto.ActionReply, Reply: func(*binproto.Message, error) binproto.Outgoing {
				return binproto.Typed(Refused, commandCodec, &command{429})
			}},
		}
	}
	binproto.HandleTyped(srv, Reading, readingCodec, func(_ context.Context, _ *binproto.Conn, r *reading) (binproto.Outgoing, error) {
		return binproto.Typed(Reading, readingCodec, r), nil
	})
	binproto.HandleTyped(srv, Command, commandCodec, func(_ context.Context, _ *binproto.Conn, c *command) (binproto.Outgoing, error) {
		if c.Code == 500 {
			return binproto.NoReply, errors.New("command failed")
		}
		return binproto.Typed(Command, commandCodec, c), nil
	})
	binproto.HandleTyped(srv, Log, commandCodec, func(context.Context, *binproto.Conn, *command) (binproto.Outgoing, error) {
		return binproto.NoReply, nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// metricsServer serves reg's /metrics on loopback until the test ends.
func metricsServer(t testing.TB, reg *prometheus.Registry) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return "http://" + l.Addr().String() + "/metrics"
}

func dial(t testing.TB, ctx context.Context, p *binproto.Protocol, addr string) *binproto.Client {
	cl, err := binproto.Dial(ctx, p, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestScrapedCounters sends a known mix of messages to a server with the
// adapter, scrapes /metrics over HTTP, parses it with the Prometheus text
// parser, and checks every counter against what was sent.
func TestScrapedCounters(t *testing.T) {
	p := protocol(t)
	obs := binprom.New(p, binprom.Options{TypeNames: map[binproto.MessageType]string{Reading: "reading"}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(obs)
	addr := serve(t, p, obs, 10)
	url := metricsServer(t, reg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	in, out := reading{1, 2}, reading{}
	// Client 1: 12 readings (10 answered, 2 over the rate limit), 3 requests
	// of a type with no handler.
	c1 := dial(t, ctx, p, addr)
	refused := 0
	for range 12 {
		rt, err := binproto.RequestTyped(ctx, c1, binproto.Typed(Reading, readingCodec, &in), readingCodec, &out)
		switch {
		case rt == Refused && errors.Is(err, binproto.ErrStructureMismatch):
			refused++
		case err != nil:
			t.Fatal(err)
		}
	}
	if refused != 2 {
		t.Fatalf("%d readings refused, want 2", refused)
	}
	// Client 2: 3 not found, 4 one-way logs, 2 good commands, then one that fails.
	c2 := dial(t, ctx, p, addr)
	for range 3 {
		var nf *binproto.NotFoundError
		if _, err := c2.Request(ctx, binproto.Typed(Missing, commandCodec, &command{1})); !errors.As(err, &nf) {
			t.Fatalf("request of a type with no handler: %v", err)
		}
	}
	for i := range 4 {
		if err := c2.Send(ctx, binproto.Typed(Log, commandCodec, &command{uint32(i)})); err != nil {
			t.Fatal(err)
		}
	}
	for _, code := range []uint32{200, 201, 500} {
		_, err := c2.Request(ctx, binproto.Typed(Command, commandCodec, &command{code}))
		if (code == 500) != (err != nil) {
			t.Fatalf("command %d: %v", code, err)
		}
	}
	c1.Close()

	const msgs = "binproto_messages_total"
	want := []struct {
		labels []string
		n      float64
	}{
		{[]string{"type", "reading", "outcome", "ok"}, 10},
		{[]string{"type", "reading", "outcome", "rate_limited"}, 2},
		{[]string{"type", "3", "outcome", "not_found"}, 3},
		{[]string{"type", "4", "outcome", "ok"}, 4},
		{[]string{"type", "2", "outcome", "ok"}, 2},
		{[]string{"type", "2", "outcome", "internal"}, 1},
		{[]string{"outcome", "ok"}, 16},
		{nil, 22},
	}
	var s binprom.Samples
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if s, err = binprom.Scrape(ctx, nil, url); err != nil {
			t.Fatal(err)
		}
		// Both connections have closed once all is counted.
		if s.Sum(msgs) == 22 && s.Sum("binproto_connections_closed_total") == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range want {
		if got := s.Sum(msgs, append([]string{"side", "server", "direction", "in"}, w.labels...)...); got != w.n {
			t.Errorf("%s%v = %v, want %v", msgs, w.labels, got, w.n)
		}
	}
	checks := []struct {
		name   string
		labels []string
		n      float64
	}{
		{"binproto_message_duration_seconds_count", []string{"type", "reading"}, 12},
		{"binproto_message_duration_seconds_count", nil, 22},                    // every message handled is timed, one-way logs too
		{"binproto_received_bytes_total", []string{"type", "reading"}, 12 * 10}, // 2-byte type + 8
		{"binproto_sent_bytes_total", []string{"type", "reading"}, 10 * 10},
		{"binproto_sent_bytes_total", []string{"type", "5"}, 2 * 6},
		{"binproto_sent_bytes_total", []string{"type", "3"}, 0}, // NOT_FOUND answers go as type 0xFFFF
		{"binproto_sent_bytes_total", []string{"type", "other"}, 3 * 2},
		{"binproto_rate_limited_total", nil, 2},
		{"binproto_connections_opened_total", nil, 2},
		{"binproto_connections_active", nil, 0},
		{"binproto_connections_closed_total", []string{"reason", "peer"}, 1},
		{"binproto_connections_closed_total", []string{"reason", "handler_error"}, 1},
	}
	for _, c := range checks {
		if got := s.Sum(c.name, c.labels...); got != c.n {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.n)
		}
	}
}

// TestQuantile checks the histogram_quantile estimate of Samples.
func TestQuantile(t *testing.T) {
	s := binprom.Samples{
		{Name: "h_bucket", Labels: map[string]string{"le": "1"}, Value: 50},
		{Name: "h_bucket", Labels: map[string]string{"le": "2"}, Value: 100},
		{Name: "h_bucket", Labels: map[string]string{"le": "+Inf"}, Value: 100},
	}
	for _, tt := range []struct{ q, want float64 }{{0.5, 1}, {0.25, 0.5}, {0.75, 1.5}, {1, 2}} {
		if got := s.Quantile(tt.q, "h"); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	before := binprom.Samples{{Name: "h_bucket", Labels: map[string]string{"le": "1"}, Value: 50}}
	if got := s.Sub(before).Quantile(0.5, "h"); got != 1.5 {
		t.Errorf("Quantile of the increase = %v, want 1.5", got)
	}
}
