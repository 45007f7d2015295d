package bench_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/target/httpjson"
)

// sharedTarget is an in-process target that can only share a connection.
// A parallel target's call sleeps a round trip (a slow one SlowDelay more);
// a serial target runs one call at a time, in arrival order (waiters on a
// channel are served first in, first out), like a connection whose replies
// go out in request order, and sleeps in slow calls only: a slow call holds
// every caller up.
type sharedTarget struct {
	name   string
	serial bool
}

func (s *sharedTarget) Name() string { return s.name }

func (s *sharedTarget) Start(context.Context) (bench.Endpoint, error) {
	return bench.Endpoint{Addr: "in-process", Embedded: true}, nil
}

func (s *sharedTarget) Dial(context.Context) (bench.Client, error) {
	return nil, errors.New("this target only shares a connection")
}

func (s *sharedTarget) Close() error { return nil }

func (s *sharedTarget) DialShared(context.Context) (bench.SharedClient, error) {
	c := &sharedClient{}
	if s.serial {
		c.turn = make(chan struct{}, 1)
	}
	return c, nil
}

type sharedClient struct {
	turn chan struct{} // nil: calls run in parallel
	wire atomic.Uint64
}

func (c *sharedClient) NewCaller() bench.Caller { return &sharedCaller{c: c} }
func (c *sharedClient) WireBytes() uint64       { return c.wire.Load() }
func (c *sharedClient) Close() error            { return nil }

type sharedCaller struct {
	c     *sharedClient
	reply []byte
}

func (f *sharedCaller) Echo(ctx context.Context, p []byte) ([]byte, error) { return f.call(ctx, p, 0) }

func (f *sharedCaller) SlowEcho(ctx context.Context, p []byte) ([]byte, error) {
	return f.call(ctx, p, bench.SlowDelay)
}

func (f *sharedCaller) call(ctx context.Context, p []byte, d time.Duration) ([]byte, error) {
	if f.c.turn != nil {
		f.c.turn <- struct{}{}
		defer func() { <-f.c.turn }()
	} else {
		d += roundTrip
	}
	if d > 0 {
		time.Sleep(d)
	}
	f.reply = append(f.reply[:0], p...)
	f.c.wire.Add(uint64(2 * len(p)))
	return f.reply, ctx.Err()
}

// roundTrip is the time of a fast call on a parallel sharedTarget.
const roundTrip = 20 * time.Microsecond

func sharedOptions(kinds ...string) bench.Options {
	o := quickOptions(kinds...)
	o.SharedDuration = 200 * time.Millisecond
	return o
}

// TestRunShared runs the concurrent and hol benchmarks on two in-process
// targets and one (HTTP/JSON) that cannot share a connection and so runs
// none of them.
func TestRunShared(t *testing.T) {
	o := sharedOptions(report.KindConcurrent, report.KindHOL)
	res, _ := run(t, o, &sharedTarget{name: "serial", serial: true}, &sharedTarget{name: "parallel"}, httpjson.New(httpjson.Config{}))
	wantIDs := []string{report.BenchSingle, report.BenchConcurrent, report.BenchHOL, report.BenchHOLNoSlow}
	wantCallers := []int{1, bench.ConcurrentCallers, bench.HOLFastCallers + 1, bench.HOLFastCallers + 1}
	if len(res.Benchmarks) != len(wantIDs) || res.Config.SharedDurationSeconds != 0.2 {
		t.Fatalf("%d benchmarks, shared duration %v", len(res.Benchmarks), res.Config.SharedDurationSeconds)
	}
	for i, b := range res.Benchmarks {
		if b.ID != wantIDs[i] || b.Clients != wantCallers[i] || b.PayloadBytes != bench.SharedPayloadBytes || len(b.Results) != 2 {
			t.Fatalf("benchmark %d: %s, %d callers, %d bytes, %d results", i, b.ID, b.Clients, b.PayloadBytes, len(b.Results))
		}
		for _, tr := range b.Results {
			rr := tr.Rounds[0]
			where := b.ID + " " + tr.Target
			if rr.Messages == 0 || rr.Errors != 0 || rr.Messages != rr.Sent || rr.WireBytesPerMsg != 2*bench.SharedPayloadBytes {
				t.Errorf("%s: sent %d messages %d errors %d wire/msg %v", where, rr.Sent, rr.Messages, rr.Errors, rr.WireBytesPerMsg)
			}
			if uint64(rr.Latency.Count) != rr.Messages-rr.SlowCalls {
				t.Errorf("%s: %d latencies for %d fast calls", where, rr.Latency.Count, rr.Messages-rr.SlowCalls)
			}
			if slow := b.ID == report.BenchHOL; slow != (rr.SlowCalls > 0) {
				t.Errorf("%s: %d slow calls", where, rr.SlowCalls)
			}
			if tr.Summary.Held.N != 1 || tr.Summary.SlowCalls.Median != float64(rr.SlowCalls) {
				t.Errorf("%s: summary %+v / %+v", where, tr.Summary.Held, tr.Summary.SlowCalls)
			}
		}
	}
	// On the serial target every slow call holds up the fast callers
	// queued behind it: at least one each.
	hol := res.Benchmark(report.BenchHOL).Result("serial")
	if rr := hol.Rounds[0]; rr.Held < rr.SlowCalls || hol.Summary.HeldPerSlow.Median < 1 {
		t.Errorf("serial: %d held for %d slow calls", rr.Held, rr.SlowCalls)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "binproto-native") == (res.Checks != nil) {
		t.Errorf("checks %v with notes %v", res.Checks, res.Notes)
	}
}

// TestRunSharedOnly: a target named in SharedOnly runs the shared
// benchmarks only, and one that cannot share runs the others only.
func TestRunSharedOnly(t *testing.T) {
	o := sharedOptions(report.KindFixed, report.KindConcurrent)
	o.SharedOnly = []string{"peer"}
	res, _ := run(t, o, httpjson.New(httpjson.Config{}), &sharedTarget{name: "peer"})
	for _, b := range res.Benchmarks {
		want := "http"
		if report.IsShared(b.Kind) {
			want = "peer"
		}
		if len(b.Results) != 1 || b.Results[0].Target != want {
			t.Errorf("%s ran on %v, want %s only", b.ID, b.Results, want)
		}
	}
	if !slices.Equal(res.Config.SharedOnly, []string{"peer"}) || len(res.Benchmarks) != 4 {
		t.Fatalf("shared only %v, %d benchmarks", res.Config.SharedOnly, len(res.Benchmarks))
	}
}

// TestRunSharedWithoutSharingTarget: when no target can share a
// connection, the shared benchmarks are left out with a note.
func TestRunSharedWithoutSharingTarget(t *testing.T) {
	o := sharedOptions(report.KindFixed, report.KindHOL)
	res, _ := run(t, o, httpjson.New(httpjson.Config{}))
	if len(res.Benchmarks) != 2 || !strings.Contains(strings.Join(res.Notes, "\n"), report.BenchHOL+": no target of this run can share one connection") {
		t.Fatalf("%d benchmarks, notes %v", len(res.Benchmarks), res.Notes)
	}
}
