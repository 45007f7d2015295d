package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// SlowDelay is how long a target's server handler of a slow call
// (Caller.SlowEcho) sleeps before it answers.
const SlowDelay = 10 * time.Millisecond

// The shape of the shared-connection workloads.
const (
	// SharedPayloadBytes is the echo payload of every concurrent and hol call.
	SharedPayloadBytes = 1024
	// ConcurrentCallers share one client in the concurrent benchmark.
	ConcurrentCallers = 64
	// HOLFastCallers make only fast calls in the hol benchmark; one more
	// caller makes every HOLSlowEvery-th call slow.
	HOLFastCallers = 16
	// HOLSlowEvery: the slow caller's every HOLSlowEvery-th call is slow.
	HOLSlowEvery = 100
)

// SharedDialer is implemented by targets that can run many callers over one
// client and one connection: the concurrent and hol benchmarks run on
// those targets only.
type SharedDialer interface {
	// DialShared opens one client with one connection, to be shared by
	// every Caller it makes.
	DialShared(ctx context.Context) (SharedClient, error)
}

// SharedClient is one client, and one connection, shared by many callers.
// NewCaller, WireBytes and Close are called by one goroutine; the callers
// run concurrently.
type SharedClient interface {
	// NewCaller returns a handle on the shared client for one goroutine.
	NewCaller() Caller
	// WireBytes returns the bytes written to and read from the connection
	// so far, framing and headers included.
	WireBytes() uint64
	// Close closes the client and its connection.
	Close() error
}

// Caller is one goroutine's handle on a SharedClient. Handles of one
// client are used concurrently; each by one goroutine at a time.
type Caller interface {
	// Echo sends payload and returns the payload the server echoed back;
	// the returned slice may be reused by the caller's next call.
	Echo(ctx context.Context, payload []byte) ([]byte, error)
	// SlowEcho is Echo whose server handler first sleeps SlowDelay.
	SlowEcho(ctx context.Context, payload []byte) ([]byte, error)
}

// sharedPlan lists the workloads of a shared-connection kind.
func sharedPlan(kind string) []workload {
	info := func(id string, callers int) report.Benchmark {
		return benchInfo(id, kind, report.ModeRequestResponse, SharedPayloadBytes, callers)
	}
	switch kind {
	case report.KindConcurrent:
		return []workload{
			{info: info(report.BenchSingle, 1), run: runShared(1, 0)},
			{info: info(report.BenchConcurrent, ConcurrentCallers), run: runShared(ConcurrentCallers, 0)},
		}
	case report.KindHOL:
		return []workload{
			{info: info(report.BenchHOL, HOLFastCallers+1), run: runShared(HOLFastCallers+1, HOLSlowEvery)},
			{info: info(report.BenchHOLNoSlow, HOLFastCallers+1), run: runShared(HOLFastCallers+1, 0)},
		}
	}
	return nil
}

// sharedCaller is the state of one caller goroutine of a shared phase.
type sharedCaller struct {
	c   Caller
	buf []byte
	rec *recorder // fast calls only

	sent, ok, slow, held, errors uint64
	firstErr                     error
}

func (sc *sharedCaller) fail(err error) {
	sc.errors++
	if sc.firstErr == nil {
		sc.firstErr = err
	}
}

// runShared returns the run of a shared-connection phase: callers
// goroutines, each with a Caller of one SharedClient, echo
// SharedPayloadBytes back to back until the deadline. With slowEvery > 0
// the last caller makes each slowEvery-th of its calls slow; the latency
// histogram holds the fast calls only, and a fast call taking
// report.HeldMicros or longer counts as held.
func runShared(callers, slowEvery int) func(context.Context, Target, *meter, *Options, int) (phaseCounts, error) {
	return func(ctx context.Context, t Target, m *meter, o *Options, _ int) (phaseCounts, error) {
		sd, ok := t.(SharedDialer)
		if !ok {
			return phaseCounts{}, fmt.Errorf("target %s cannot share one connection", t.Name())
		}
		c, err := sd.DialShared(ctx)
		if err != nil {
			return phaseCounts{}, fmt.Errorf("dial: %w", err)
		}
		defer c.Close()
		cs := make([]*sharedCaller, callers)
		for i := range cs {
			buf := newPayload(SharedPayloadBytes, o.Seed)
			binary.LittleEndian.PutUint64(buf[8:], uint64(i)) // callers' payloads differ
			cs[i] = &sharedCaller{c: c.NewCaller(), buf: buf, rec: newRecorder()}
		}
		runCallers(ctx, cs, time.Now().Add(o.Warmup), 0, 1000)
		for _, sc := range cs {
			*sc = sharedCaller{c: sc.c, buf: sc.buf, rec: newRecorder()}
		}
		w0 := c.WireBytes()
		m.start()
		deadline := time.Now().Add(o.SharedDuration)
		opCtx, cancel := context.WithDeadline(ctx, deadline.Add(opGrace))
		defer cancel()
		runCallers(opCtx, cs, deadline, slowEvery, 0)
		m.stop()
		pc := phaseCounts{rec: cs[0].rec, wire: c.WireBytes() - w0}
		for i, sc := range cs {
			if i > 0 {
				pc.rec.merge(sc.rec)
			}
			pc.sent += sc.sent
			pc.messages += sc.ok
			pc.slow += sc.slow
			pc.held += sc.held
			pc.errors += sc.errors
			if pc.firstErr == nil {
				pc.firstErr = sc.firstErr
			}
		}
		pc.payloadBytes = pc.messages * SharedPayloadBytes
		return pc, ctx.Err()
	}
}

// runCallers runs every caller on its own goroutine until deadline (or
// maxCalls calls each, when positive) and waits for them.
func runCallers(ctx context.Context, cs []*sharedCaller, deadline time.Time, slowEvery, maxCalls int) {
	var wg sync.WaitGroup
	for i, sc := range cs {
		slowCaller := slowEvery > 0 && i == len(cs)-1
		wg.Go(func() {
			for n := 0; ctx.Err() == nil && (maxCalls <= 0 || n < maxCalls); n++ {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				stamp(sc.buf, n)
				slow := slowCaller && (n+1)%slowEvery == 0
				var got []byte
				var err error
				if slow {
					got, err = sc.c.SlowEcho(ctx, sc.buf)
				} else {
					got, err = sc.c.Echo(ctx, sc.buf)
				}
				lat := time.Since(t0)
				sc.sent++
				switch {
				case err != nil:
					sc.fail(err)
				case !bytes.Equal(got, sc.buf):
					sc.fail(fmt.Errorf("echo reply of %d bytes differs from the %d bytes sent", len(got), len(sc.buf)))
				case slow:
					sc.ok++
					sc.slow++
				default:
					sc.ok++
					sc.rec.record(lat)
					if lat >= report.HeldMicros*time.Microsecond {
						sc.held++
					}
				}
			}
		})
	}
	wg.Wait()
}
