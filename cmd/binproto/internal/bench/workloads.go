package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// opGrace bounds how long one message may take after a phase's deadline
// before the phase gives up on it.
const opGrace = 10 * time.Second

// maxBatchBytes bounds the payload bytes of one SendBatch call.
const maxBatchBytes = 1 << 20

// workload is one benchmark of the plan: its description and how to run
// one phase of it on one target.
type workload struct {
	info report.Benchmark
	run  func(ctx context.Context, t Target, m *meter, o *Options, round int) (phaseCounts, error)
}

// runsOn reports whether w runs on t: a shared-connection workload on the
// targets that can share one connection, any other on every target but
// those of o.SharedOnly.
func (w *workload) runsOn(t Target, o *Options) bool {
	if report.IsShared(w.info.Kind) {
		_, ok := t.(SharedDialer)
		return ok
	}
	return !slices.Contains(o.SharedOnly, t.Name())
}

// phaseCounts is what a workload measured in one phase, besides what the
// meter measured.
type phaseCounts struct {
	sent, messages, errors, lost uint64
	payloadBytes                 uint64
	wire                         uint64
	rec                          *recorder
	perClient                    []float64
	offered                      float64
	firstErr                     error
	// slow and held count the slow calls and the held fast calls of a
	// shared-connection phase.
	slow, held uint64
}

func (pc *phaseCounts) fail(err error) {
	pc.errors++
	if pc.firstErr == nil {
		pc.firstErr = err
	}
}

// plan lists the workloads selected by o, in run order.
func plan(o *Options) []workload {
	var ws []workload
	for _, k := range o.Kinds {
		switch k {
		case report.KindFixed:
			ws = append(ws,
				workload{info: benchInfo("fixed/sensor-rr", k, report.ModeRequestResponse, SensorPayloadBytes, 1), run: runSensorRR},
				workload{info: benchInfo("fixed/sensor-stream", k, report.ModeStream, SensorPayloadBytes, 1), run: runSensorStream})
		case report.KindVariable:
			for _, size := range o.Sizes {
				ws = append(ws,
					workload{info: benchInfo(fmt.Sprintf("variable/echo-rr/%d", size), k, report.ModeRequestResponse, size, 1), run: echoRR(size)},
					workload{info: benchInfo(fmt.Sprintf("variable/stream/%d", size), k, report.ModeStream, size, 1), run: payloadStream(size)})
			}
		case report.KindRealistic:
			ws = append(ws, workload{info: benchInfo("realistic/mixed", k, report.ModeMixed, 0, o.Clients), run: runRealistic})
		case report.KindSchema:
			ws = append(ws, schemaWorkload(o.Schema))
		default:
			ws = append(ws, sharedPlan(k)...)
		}
	}
	return ws
}

// benchInfo describes a benchmark before it has results.
func benchInfo(id, kind, mode string, size, clients int) report.Benchmark {
	return report.Benchmark{ID: id, Kind: kind, Mode: mode, PayloadBytes: size, Clients: clients}
}

// sensorAt returns the i-th reading of a deterministic sequence whose
// values exercise fractions, signs and large magnitudes.
func sensorAt(i int) Sensor {
	f := float32(i)
	return Sensor{S1: f * 0.5, S2: -f, S3: 1 / (f + 1), S4: float32(math.Pi) * float32(i%1000)}
}

// newPayload returns size random bytes drawn from a fixed seed.
func newPayload(size int, seed uint64) []byte {
	buf := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	return buf
}

// stamp writes the message index at the front of buf so that consecutive
// messages differ.
func stamp(buf []byte, i int) {
	if len(buf) >= 8 {
		binary.LittleEndian.PutUint64(buf, uint64(i))
	} else if len(buf) > 0 {
		buf[0] = byte(i)
	}
}

func runSensorRR(ctx context.Context, t Target, m *meter, o *Options, _ int) (phaseCounts, error) {
	return closedLoop(ctx, t, m, o, SensorPayloadBytes, sensorCall)
}

// sensorCall sends the i-th sensor reading and checks the echoed reply:
// the call of fixed/sensor-rr and of the capacity mode.
func sensorCall(ctx context.Context, c Client, i int) error {
	s := sensorAt(i)
	got, err := c.Sensor(ctx, s)
	if err != nil {
		return err
	}
	if got != s {
		return fmt.Errorf("sensor reply %+v, sent %+v", got, s)
	}
	return nil
}

func echoRR(size int) func(context.Context, Target, *meter, *Options, int) (phaseCounts, error) {
	return func(ctx context.Context, t Target, m *meter, o *Options, _ int) (phaseCounts, error) {
		buf := newPayload(size, o.Seed)
		return closedLoop(ctx, t, m, o, size, func(ctx context.Context, c Client, i int) error {
			stamp(buf, i)
			got, err := c.Echo(ctx, buf)
			if err != nil {
				return err
			}
			if string(got) != string(buf) {
				return fmt.Errorf("echo reply of %d bytes differs from the %d bytes sent", len(got), len(buf))
			}
			return nil
		})
	}
}

// closedLoop runs op back to back on one client for o.Duration after a
// warm-up, timing each call; op returns an error for failed or wrong
// replies.
func closedLoop(ctx context.Context, t Target, m *meter, o *Options, payload int,
	op func(context.Context, Client, int) error) (phaseCounts, error) {
	c, err := t.Dial(ctx)
	if err != nil {
		return phaseCounts{}, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	warmup(ctx, o.Warmup, func(i int) { _ = op(ctx, c, -1-i) })
	pc := phaseCounts{rec: newRecorder()}
	w0 := c.WireBytes()
	m.start()
	deadline := time.Now().Add(o.Duration)
	opCtx, cancel := context.WithDeadline(ctx, deadline.Add(opGrace))
	defer cancel()
	for i := 0; ctx.Err() == nil; i++ {
		t0 := time.Now()
		if !t0.Before(deadline) {
			break
		}
		err := op(opCtx, c, i)
		lat := time.Since(t0)
		pc.sent++
		if err != nil {
			pc.fail(err)
			continue
		}
		pc.rec.record(lat)
		pc.messages++
	}
	m.stop()
	pc.wire = c.WireBytes() - w0
	pc.payloadBytes = pc.messages * uint64(payload)
	return pc, ctx.Err()
}

// warmup calls op repeatedly for d (at most 1000 times).
func warmup(ctx context.Context, d time.Duration, op func(i int)) {
	end := time.Now().Add(d)
	for i := 0; i < 1000 && ctx.Err() == nil && time.Now().Before(end); i++ {
		op(i)
	}
}

func runSensorStream(ctx context.Context, t Target, m *meter, o *Options, _ int) (phaseCounts, error) {
	batch := make([]Sensor, o.BatchSize)
	return stream(ctx, t, m, o, SensorPayloadBytes, func(ctx context.Context, c Client, i int) (int, error) {
		if bs, ok := c.(BatchSender); ok {
			for j := range batch {
				batch[j] = sensorAt(i*len(batch) + j)
			}
			return len(batch), bs.SendSensorBatch(ctx, batch)
		}
		return 1, c.SendSensor(ctx, sensorAt(i))
	})
}

func payloadStream(size int) func(context.Context, Target, *meter, *Options, int) (phaseCounts, error) {
	return func(ctx context.Context, t Target, m *meter, o *Options, _ int) (phaseCounts, error) {
		n := max(1, min(o.BatchSize, maxBatchBytes/size))
		bufs := make([][]byte, n)
		for j := range bufs {
			bufs[j] = newPayload(size, o.Seed+uint64(j))
		}
		return stream(ctx, t, m, o, size, func(ctx context.Context, c Client, i int) (int, error) {
			if bs, ok := c.(BatchSender); ok {
				for j, b := range bufs {
					stamp(b, i*n+j)
				}
				return n, bs.SendBatch(ctx, bufs)
			}
			stamp(bufs[0], i)
			return 1, c.Send(ctx, bufs[0])
		})
	}
}

// stream sends one-way messages back to back for o.Duration, then flushes:
// only the messages the server confirms count as delivered, and the
// measured time includes the flush.
func stream(ctx context.Context, t Target, m *meter, o *Options, payload int,
	send func(context.Context, Client, int) (int, error)) (phaseCounts, error) {
	c, err := t.Dial(ctx)
	if err != nil {
		return phaseCounts{}, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	warmup(ctx, o.Warmup, func(i int) { _, _ = send(ctx, c, i) })
	base, err := c.Flush(ctx)
	if err != nil {
		return phaseCounts{}, fmt.Errorf("flush after warm-up: %w", err)
	}
	var pc phaseCounts
	w0 := c.WireBytes()
	m.start()
	deadline := time.Now().Add(o.Duration)
	opCtx, cancel := context.WithDeadline(ctx, deadline.Add(opGrace))
	defer cancel()
	for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
		n, err := send(opCtx, c, i)
		pc.sent += uint64(n)
		if err != nil {
			pc.fail(err)
		}
	}
	got, err := c.Flush(opCtx)
	m.stop()
	if err != nil {
		pc.fail(fmt.Errorf("final flush: %w", err))
	} else if got >= base {
		pc.messages = min(got-base, pc.sent)
	}
	pc.lost = pc.sent - pc.messages
	pc.wire = c.WireBytes() - w0
	pc.payloadBytes = pc.messages * uint64(payload)
	return pc, ctx.Err()
}
