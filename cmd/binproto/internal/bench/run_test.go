package bench_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/target/httpjson"
)

// quickOptions are short settings for end-to-end tests.
func quickOptions(kinds ...string) bench.Options {
	o := bench.DefaultOptions()
	o.Kinds = kinds
	o.Duration = 200 * time.Millisecond
	o.Warmup = 20 * time.Millisecond
	o.Rounds = 1
	o.Clients = 6
	o.Ramp = 50 * time.Millisecond
	o.Think = 5 * time.Millisecond
	o.Sizes = []int{16, 4096}
	o.MaxSize = 1024
	o.SampleInterval = 50 * time.Millisecond
	o.Progress = bench.ProgressLines
	return o
}

func run(t *testing.T, o bench.Options, targets ...bench.Target) (*report.Results, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := bench.Run(ctx, o, targets, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if err := report.Validate(res); err != nil {
		t.Fatalf("results invalid: %v", err)
	}
	return res, out.String()
}

// checkHealthy asserts that every phase delivered messages without errors
// and that the figures are consistent with each other.
func checkHealthy(t *testing.T, res *report.Results) {
	t.Helper()
	for _, b := range res.Benchmarks {
		for _, tr := range b.Results {
			for _, rr := range tr.Rounds {
				where := b.ID + " " + tr.Target
				if rr.Messages == 0 || rr.Errors != 0 || rr.Lost != 0 || rr.Messages != rr.Sent {
					t.Errorf("%s: sent %d messages %d errors %d lost %d", where, rr.Sent, rr.Messages, rr.Errors, rr.Lost)
				}
				if rr.MsgsPerSec <= 0 || rr.MBPerSec <= 0 || rr.CPUPercent <= 0 || rr.RSSMaxBytes == 0 {
					t.Errorf("%s: missing figures %+v", where, rr)
				}
				if payload := float64(b.PayloadBytes); b.PayloadBytes > 0 && rr.WireBytesPerMsg < payload {
					t.Errorf("%s: %.0f wire bytes per message, less than the %d-byte payload", where, rr.WireBytesPerMsg, b.PayloadBytes)
				}
				if rr.AllocsPerMsg <= 0 {
					t.Errorf("%s: allocs per message %v", where, rr.AllocsPerMsg)
				}
				timed := b.Mode != report.ModeStream
				if timed != (rr.Latency.Count > 0) {
					t.Errorf("%s: latency count %d for mode %s", where, rr.Latency.Count, b.Mode)
				}
				if b.Mode == report.ModeRequestResponse && uint64(rr.Latency.Count) != rr.Messages {
					t.Errorf("%s: %d latencies for %d messages", where, rr.Latency.Count, rr.Messages)
				}
			}
		}
	}
}

func TestRunFixedWithRatios(t *testing.T) {
	o := quickOptions(report.KindFixed)
	o.Rounds = 2
	o.Baseline = "http"
	cand := httpjson.New(httpjson.Config{Name: "cand"})
	res, out := run(t, o, cand, httpjson.New(httpjson.Config{}))
	checkHealthy(t, res)
	if got := len(res.Benchmarks); got != 2 {
		t.Fatalf("%d benchmarks, want 2", got)
	}
	if n := strings.Count(out, "\n"); n != 2*2*2 {
		t.Errorf("progress printed %d lines, want 8:\n%s", n, out)
	}
	if len(res.Ratios) != 2 {
		t.Fatalf("ratios: %+v", res.Ratios)
	}
	for _, q := range res.Ratios {
		if q.Target != "cand" || q.Baseline != "http" || q.Throughput <= 0 || q.WireBytes <= 0 {
			t.Errorf("bad ratio %+v", q)
		}
	}
	for _, b := range res.Benchmarks {
		for _, tr := range b.Results {
			if tr.Summary.MsgsPerSec.N != 2 || tr.Summary.MsgsPerSec.Min > tr.Summary.MsgsPerSec.Max {
				t.Errorf("%s %s: summary %+v", b.ID, tr.Target, tr.Summary.MsgsPerSec)
			}
		}
	}
	if len(res.Resources) == 0 {
		t.Fatal("no resource samples")
	}
	labelled := 0
	for _, s := range res.Resources {
		if s.Target != "" {
			labelled++
		}
	}
	if labelled == 0 {
		t.Fatal("no resource sample is attributed to a target")
	}
}

func TestRunVariable(t *testing.T) {
	res, _ := run(t, quickOptions(report.KindVariable), httpjson.New(httpjson.Config{}))
	checkHealthy(t, res)
	var ids []string
	for _, b := range res.Benchmarks {
		ids = append(ids, b.ID)
	}
	want := "variable/echo-rr/16 variable/stream/16 variable/echo-rr/4096 variable/stream/4096"
	if strings.Join(ids, " ") != want {
		t.Fatalf("benchmarks %v, want %s", ids, want)
	}
	small := res.Benchmark("variable/echo-rr/16").Results[0].Summary
	big := res.Benchmark("variable/echo-rr/4096").Results[0].Summary
	if big.WireBytesPerMsg.Median < 2*4096 || big.WireBytesPerMsg.Median <= small.WireBytesPerMsg.Median {
		t.Fatalf("wire bytes do not grow with size: 16B %v, 4KiB %v", small.WireBytesPerMsg.Median, big.WireBytesPerMsg.Median)
	}
}

func TestRunRealistic(t *testing.T) {
	o := quickOptions(report.KindRealistic)
	o.Duration = 400 * time.Millisecond
	res, _ := run(t, o, httpjson.New(httpjson.Config{}))
	checkHealthy(t, res)
	rr := res.Benchmarks[0].Results[0].Rounds[0]
	if len(rr.ClientMsgsPerSec) != o.Clients {
		t.Fatalf("%d per-client figures, want %d", len(rr.ClientMsgsPerSec), o.Clients)
	}
	f := rr.Fairness
	if f.Jain <= 0.3 || f.Jain > 1 || f.MinMsgsPerSec <= 0 || f.MaxMsgsPerSec < f.MinMsgsPerSec {
		t.Fatalf("fairness %+v", f)
	}
	// Six clients, one message per 5 ms each on average, ramped over 50 ms
	// of 400 ms, plus one message at each client's start: ~1150/s offered.
	if rr.OfferedPerSec < 1100 || rr.OfferedPerSec > 1200 {
		t.Fatalf("offered %v msgs/s", rr.OfferedPerSec)
	}
	if rr.MsgsPerSec < 0.3*rr.OfferedPerSec {
		t.Fatalf("achieved %v msgs/s of %v offered", rr.MsgsPerSec, rr.OfferedPerSec)
	}
}

// corruptTarget wraps a target so that its clients misbehave.
type corruptTarget struct {
	bench.Target
	name string
	wrap func(bench.Client) bench.Client
}

func (c corruptTarget) Name() string { return c.name }

func (c corruptTarget) Dial(ctx context.Context) (bench.Client, error) {
	cl, err := c.Target.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return c.wrap(cl), nil
}

// wrongSensor returns a different reading every tenth call.
type wrongSensor struct {
	bench.Client
	n int
}

func (w *wrongSensor) Sensor(ctx context.Context, s bench.Sensor) (bench.Sensor, error) {
	got, err := w.Client.Sensor(ctx, s)
	w.n++
	if w.n%10 == 0 {
		got.S3 += 1
	}
	return got, err
}

// lossyFlush reports half of the one-way messages as received.
type lossyFlush struct{ bench.Client }

func (l lossyFlush) Flush(ctx context.Context) (uint64, error) {
	n, err := l.Client.Flush(ctx)
	return n / 2, err
}

func TestRepliesAreValidatedAndLossCounted(t *testing.T) {
	bad := corruptTarget{Target: httpjson.New(httpjson.Config{}), name: "bad",
		wrap: func(c bench.Client) bench.Client { return &wrongSensor{Client: c} }}
	lossy := corruptTarget{Target: httpjson.New(httpjson.Config{}), name: "lossy",
		wrap: func(c bench.Client) bench.Client { return lossyFlush{c} }}
	res, _ := run(t, quickOptions(report.KindFixed), bad, lossy)

	rr := res.Benchmark("fixed/sensor-rr").Result("bad").Rounds[0]
	if rr.Errors == 0 || rr.Messages+rr.Errors != rr.Sent || rr.Errors > rr.Sent/10+1 {
		t.Fatalf("wrong replies not counted as errors: %+v", rr)
	}
	noted := false
	for _, n := range res.Notes {
		noted = noted || strings.Contains(n, "sensor reply")
	}
	if !noted {
		t.Fatalf("no note about the wrong replies: %v", res.Notes)
	}
	st := res.Benchmark("fixed/sensor-stream").Result("lossy").Rounds[0]
	if st.Lost == 0 || st.Messages >= st.Sent || st.Lost+st.Messages != st.Sent {
		t.Fatalf("loss not counted: %+v", st)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	h := httpjson.New(httpjson.Config{})
	ctx := context.Background()
	if _, err := bench.Run(ctx, quickOptions(), []bench.Target{h}, nil); err == nil {
		t.Error("no kinds accepted")
	}
	if _, err := bench.Run(ctx, quickOptions(report.KindFixed), nil, nil); err == nil {
		t.Error("no targets accepted")
	}
	o := quickOptions(report.KindFixed)
	o.Baseline = "missing"
	if _, err := bench.Run(ctx, o, []bench.Target{h}, nil); err == nil {
		t.Error("unknown baseline accepted")
	}
	if _, err := bench.Run(ctx, quickOptions(report.KindFixed), []bench.Target{h, httpjson.New(httpjson.Config{})}, nil); err == nil {
		t.Error("duplicate target names accepted")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	o := quickOptions(report.KindFixed, report.KindVariable)
	// Phases far longer than the test's bound: stopping within it can only
	// be the cancellation (a hang guard, not a speed claim).
	o.Duration = 10 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := bench.Run(ctx, o, []bench.Target{httpjson.New(httpjson.Config{})}, nil)
	if err == nil {
		t.Fatal("Run ignored cancellation")
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("Run took %v to stop", d)
	}
}

func TestStartFailureIsReported(t *testing.T) {
	// Port 1 on loopback is not served: the external target cannot start.
	h := httpjson.New(httpjson.Config{Addr: "127.0.0.1:1"})
	_, err := bench.Run(context.Background(), quickOptions(report.KindFixed), []bench.Target{h}, nil)
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("err = %v", err)
	}
}

// batching adds BatchSender to a client by sending one message at a time,
// and counts the batch calls.
type batching struct {
	bench.Client
	batches *atomic.Int64
}

func (b batching) SendSensorBatch(ctx context.Context, batch []bench.Sensor) error {
	b.batches.Add(1)
	for _, s := range batch {
		if err := b.SendSensor(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (b batching) SendBatch(ctx context.Context, payloads [][]byte) error {
	b.batches.Add(1)
	for _, p := range payloads {
		if err := b.Send(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func TestStreamsUseBatchSender(t *testing.T) {
	var batches atomic.Int64
	tg := corruptTarget{Target: httpjson.New(httpjson.Config{}), name: "batching",
		wrap: func(c bench.Client) bench.Client { return batching{Client: c, batches: &batches} }}
	o := quickOptions(report.KindFixed, report.KindVariable)
	o.BatchSize = 8
	o.Sizes = []int{512 << 10} // two payloads per 1 MiB batch
	res, _ := run(t, o, tg)
	checkHealthy(t, res)
	if batches.Load() == 0 {
		t.Fatal("streams did not use SendBatch")
	}
	if sent := res.Benchmark("fixed/sensor-stream").Results[0].Rounds[0].Sent; sent%8 != 0 {
		t.Errorf("sensor stream sent %d, not whole batches of 8", sent)
	}
	if sent := res.Benchmark("variable/stream/524288").Results[0].Rounds[0].Sent; sent%2 != 0 {
		t.Errorf("payload stream sent %d, not whole batches of 2", sent)
	}
}
