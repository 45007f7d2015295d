package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// clientCounts is what one realistic client measured.
type clientCounts struct {
	sent, messages, errors, lost uint64
	payloadBytes, wire           uint64
	rate                         float64
	firstErr                     error
}

func (cc *clientCounts) fail(err error) {
	cc.errors++
	if cc.firstErr == nil {
		cc.firstErr = err
	}
}

// runRealistic starts o.Clients clients spread evenly over o.Ramp. Each
// follows its own open-loop schedule until the phase deadline: it waits for
// its next intended send time (exponential think time), sends a message of
// random size, one-way with probability o.OneWayFraction and as
// request/response otherwise, and times the reply from the intended send
// time. A client that falls behind its schedule sends at once, and its
// lateness shows in the latency: the load is not eased by a slow server.
func runRealistic(ctx context.Context, t Target, m *meter, o *Options, round int) (phaseCounts, error) {
	src := newPayload(o.MaxSize, o.Seed)
	pc := phaseCounts{rec: newRecorder(), offered: offeredRate(o)}
	counts := make([]clientCounts, o.Clients)
	m.start()
	start := time.Now()
	deadline := start.Add(o.Duration)
	opCtx, cancel := context.WithDeadline(ctx, deadline.Add(opGrace))
	defer cancel()
	var wg sync.WaitGroup
	for i := range counts {
		begin := start.Add(o.Ramp * time.Duration(i) / time.Duration(o.Clients))
		rng := rand.New(rand.NewPCG(o.Seed, uint64(round)<<32|uint64(i)))
		wg.Go(func() {
			counts[i] = realisticClient(opCtx, t, o, pc.rec, src, rng, begin, deadline)
		})
	}
	wg.Wait()
	m.stop()
	pc.perClient = make([]float64, len(counts))
	for i, cc := range counts {
		pc.sent += cc.sent
		pc.messages += cc.messages
		pc.errors += cc.errors
		pc.lost += cc.lost
		pc.payloadBytes += cc.payloadBytes
		pc.wire += cc.wire
		pc.perClient[i] = cc.rate
		if pc.firstErr == nil {
			pc.firstErr = cc.firstErr
		}
	}
	return pc, ctx.Err()
}

func realisticClient(ctx context.Context, t Target, o *Options, rec *recorder, src []byte,
	rng *rand.Rand, begin, deadline time.Time) (cc clientCounts) {
	if !sleepUntil(ctx, begin) {
		return cc
	}
	c, err := t.Dial(ctx)
	if err != nil {
		cc.fail(fmt.Errorf("dial: %w", err))
		return cc
	}
	defer c.Close()
	buf := make([]byte, len(src))
	var rrOK, oneWay, rrBytes, oneWayBytes uint64
	next := begin
	for i := 0; next.Before(deadline) && sleepUntil(ctx, next); i++ {
		size := logUniform(rng, o.MinSize, o.MaxSize)
		msg := buf[:size]
		copy(msg, src)
		stamp(msg, i)
		cc.sent++
		if rng.Float64() < o.OneWayFraction {
			if err := c.Send(ctx, msg); err != nil {
				cc.fail(err)
			} else {
				oneWay++
				oneWayBytes += uint64(size)
			}
		} else {
			got, err := c.Echo(ctx, msg)
			switch {
			case err != nil:
				cc.fail(err)
			case string(got) != string(msg):
				cc.fail(fmt.Errorf("echo reply of %d bytes differs from the %d bytes sent", len(got), size))
			default:
				rec.record(time.Since(next))
				rrOK++
				rrBytes += uint64(size)
			}
		}
		next = next.Add(thinkTime(rng, o.Think))
	}
	delivered, err := c.Flush(ctx)
	if err != nil {
		cc.fail(fmt.Errorf("final flush: %w", err))
		delivered = 0
	}
	delivered = min(delivered, oneWay)
	cc.lost = oneWay - delivered
	cc.messages = rrOK + delivered
	if oneWay > 0 {
		cc.payloadBytes = rrBytes + oneWayBytes*delivered/oneWay
	} else {
		cc.payloadBytes = rrBytes
	}
	if active := time.Since(begin).Seconds(); active > 0 {
		cc.rate = float64(cc.messages) / active
	}
	cc.wire = c.WireBytes()
	return cc
}

// offeredRate is the mean message rate the schedules ask for over the
// phase: every client sends at its ramp start and then once per think time.
func offeredRate(o *Options) float64 {
	var active time.Duration
	for i := range o.Clients {
		active += o.Duration - o.Ramp*time.Duration(i)/time.Duration(o.Clients)
	}
	expected := float64(o.Clients) + active.Seconds()/o.Think.Seconds()
	return expected / o.Duration.Seconds()
}

// shortSleep is the longest wait sleepUntil makes without a timer that
// ctx can cut short: waits this short cost no allocation.
const shortSleep = 20 * time.Millisecond

// sleepUntil waits until t; it returns false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= shortSleep {
		if d > 0 {
			time.Sleep(d)
		}
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// thinkTime draws an exponential duration with the given mean, capped at
// ten times the mean.
func thinkTime(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(min(rng.ExpFloat64(), 10) * float64(mean))
}

// logUniform draws an integer in [lo, hi] whose logarithm is uniform.
func logUniform(rng *rand.Rand, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	l, h := math.Log(float64(lo)), math.Log(float64(hi)+1)
	return min(hi, max(lo, int(math.Exp(l+rng.Float64()*(h-l)))))
}
