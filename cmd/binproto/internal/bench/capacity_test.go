package bench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// modelStep is a step whose outcome is a pure function of the rate:
// p99 = rate × perCall, and errs errors once the rate reaches errorsAt.
func modelStep(spec *report.Capacity, perCall time.Duration, errorsAt float64, calls *[]float64) func(float64, int) (report.CapacityStep, error) {
	return func(rate float64, attempt int) (report.CapacityStep, error) {
		*calls = append(*calls, rate)
		p99 := rate * float64(perCall) / 1e3
		n := uint64(rate)
		s := report.CapacityStep{OfferedPerSec: rate, AchievedPerSec: rate, DurationSeconds: 1, Scheduled: n, Messages: n,
			Latency: report.Latency{Count: int64(n), MeanUs: p99 / 4, P50Us: p99 / 4, P90Us: p99 / 2, P99Us: p99, P999Us: p99, MaxUs: p99}}
		if errorsAt > 0 && rate >= errorsAt {
			s.Messages--
			s.Errors++
			s.Latency.Count--
		}
		s.Met, s.Attempts = spec.Meets(&s), attempt
		return s, nil
	}
}

func TestClimbStopsWhereTheTargetIsMissed(t *testing.T) {
	// p99 = 10 µs per call/s offered: 1000/s gives exactly the 10 ms SLO.
	cases := []struct {
		name      string
		co        CapacityOptions
		errorsAt  float64
		wantCap   float64
		wantStop  string
		wantRates []float64
	}{
		{"p99 above the SLO", CapacityOptions{StartRate: 250, Factor: 2, MaxRate: 1e5}, 0,
			1000, report.StopLatency, []float64{250, 500, 1000, 2000, 2000}},
		{"one attempt", CapacityOptions{StartRate: 250, Factor: 2, MaxRate: 1e5, Attempts: 1}, 0,
			1000, report.StopLatency, []float64{250, 500, 1000, 2000}},
		{"errors first", CapacityOptions{StartRate: 250, Factor: 2, MaxRate: 1e5, Attempts: 1}, 500,
			250, report.StopErrors, []float64{250, 500}},
		{"errors allowed", CapacityOptions{StartRate: 250, Factor: 2, MaxRate: 1e5, Attempts: 1, MaxErrorRate: 0.01}, 500,
			1000, report.StopLatency, []float64{250, 500, 1000, 2000}},
		{"max rate", CapacityOptions{StartRate: 100, Factor: 3, MaxRate: 900, Attempts: 1}, 0,
			900, report.StopMaxRate, []float64{100, 300, 900}},
		{"first step misses", CapacityOptions{StartRate: 5000, Attempts: 1}, 0,
			0, report.StopLatency, []float64{5000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			co := c.co.withDefaults()
			if err := co.validate(); err != nil {
				t.Fatal(err)
			}
			spec := co.spec()
			var calls []float64
			cr, err := climb("model", co.rates(), spec, modelStep(spec, 10*time.Microsecond, c.errorsAt, &calls))
			if err != nil {
				t.Fatal(err)
			}
			if cr.CapacityPerSec != c.wantCap || cr.Stop != c.wantStop {
				t.Errorf("capacity %v stop %q, want %v %q", cr.CapacityPerSec, cr.Stop, c.wantCap, c.wantStop)
			}
			if !slices.Equal(calls, c.wantRates) {
				t.Errorf("steps run at %v, want %v", calls, c.wantRates)
			}
			// The ladder is what the report's validator accepts.
			spec.Results = append(spec.Results, cr)
			res := validResults(spec)
			if err := report.Validate(res); err != nil {
				t.Fatalf("ladder does not validate: %v", err)
			}
		})
	}
}

// validResults wraps a capacity section in otherwise minimal results.
func validResults(c *report.Capacity) *report.Results {
	o := DefaultOptions()
	o.Kinds = []string{report.KindCapacity}
	res := newResults(&o)
	for _, cr := range c.Results {
		res.Targets = append(res.Targets, report.TargetInfo{Name: cr.Target})
	}
	res.Capacity = c
	return res
}

func TestCapacityOptions(t *testing.T) {
	if err := (CapacityOptions{}).withDefaults().validate(); err != nil {
		t.Fatalf("zero value: %v", err)
	}
	if err := QuickCapacity().withDefaults().validate(); err != nil {
		t.Fatalf("quick schedule: %v", err)
	}
	d := DefaultCapacity()
	if d.SLO != 10*time.Millisecond || d.Factor != 1.25 || d.Step != 2*time.Second || d.Attempts != 2 {
		t.Fatalf("defaults %+v", d)
	}
	rates := CapacityOptions{StartRate: 1000, Factor: 1.5, MaxRate: 5100}.withDefaults().rates()
	if !slices.Equal(rates, []float64{1000, 1500, 2250, 3375, 5062.5}) {
		t.Fatalf("rates %v", rates)
	}
	bad := map[string]CapacityOptions{
		"negative SLO":      {SLO: -1},
		"factor 1":          {Factor: 1},
		"max below start":   {StartRate: 100, MaxRate: 50},
		"no call per step":  {StartRate: 0.5, Step: time.Second},
		"negative conns":    {Conns: -1},
		"error rate above":  {MaxErrorRate: 2},
		"timeout below SLO": {SLO: time.Second, Timeout: 500 * time.Millisecond},
		"too many steps":    {StartRate: 1, Factor: 1.001, MaxRate: 1e6},
		"attempts":          {Attempts: 11},
	}
	for name, co := range bad {
		if err := co.withDefaults().validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, co)
		}
	}
}

// stallClient answers sensor calls at once, except the first, which it
// holds for stall.
type stallClient struct {
	Client
	stall   time.Duration
	stalled atomic.Bool
}

func (c *stallClient) Sensor(_ context.Context, s Sensor) (Sensor, error) {
	if c.stalled.CompareAndSwap(false, true) {
		time.Sleep(c.stall)
	}
	return s, nil
}

func TestOpenLoopTimesFromIntendedStart(t *testing.T) {
	// One connection, 1000 calls/s for 400 ms; the first call stalls for
	// 200 ms. The ~200 calls due meanwhile queue behind it, and each one's
	// latency must include its wait: calls due at k ms take about 200-k
	// ms. A closed-loop timer would show one slow call and 399 fast ones.
	c := &stallClient{stall: 200 * time.Millisecond}
	sc := openLoop(context.Background(), []Client{c}, 1000, 400*time.Millisecond, 5*time.Second, sensorCall)
	if sc.scheduled != 400 || sc.ok != 400 || sc.errors != 0 {
		t.Fatalf("scheduled %d ok %d errors %d, want 400 calls without error", sc.scheduled, sc.ok, sc.errors)
	}
	h := sc.rec.h
	// The top 30% (120 calls) were due in the first 120 ms: at least 80 ms each.
	if p70 := time.Duration(h.ValueAtQuantile(70)); p70 < 50*time.Millisecond {
		t.Errorf("p70 %v: the stall is not in the queued calls' latency", p70)
	}
	if p90 := time.Duration(h.ValueAtQuantile(90)); p90 < 120*time.Millisecond {
		t.Errorf("p90 %v, want the stall's 160 ms or more", p90)
	}
	if mx := time.Duration(h.Max()); mx < 190*time.Millisecond {
		t.Errorf("max %v, want the whole 200 ms stall", mx)
	}
}

// errClient fails every call.
type errClient struct{ Client }

var errBroken = errors.New("broken")

func (errClient) Sensor(context.Context, Sensor) (Sensor, error) { return Sensor{}, errBroken }

func TestOpenLoopCountsErrorsAndEndsByItself(t *testing.T) {
	sc := openLoop(context.Background(), []Client{errClient{}, errClient{}}, 500, 100*time.Millisecond, time.Second, sensorCall)
	if sc.scheduled != 50 || sc.errors != 50 || sc.ok != 0 || !errors.Is(sc.firstErr, errBroken) {
		t.Fatalf("scheduled %d errors %d ok %d first %v", sc.scheduled, sc.errors, sc.ok, sc.firstErr)
	}
	// Calls that never return: the step ends at its deadline, each call an
	// error (a hang guard, not a speed claim).
	done := make(chan stepCounts, 1)
	go func() {
		done <- openLoop(context.Background(), []Client{blockClient{}}, 100, 50*time.Millisecond, 100*time.Millisecond, sensorCall)
	}()
	select {
	case sc := <-done:
		if sc.scheduled != 5 || sc.errors != 5 {
			t.Fatalf("blocked step: scheduled %d errors %d", sc.scheduled, sc.errors)
		}
	case <-time.After(time.Minute):
		t.Fatal("a step of blocked calls did not end")
	}
}

// blockClient blocks every call until its context ends.
type blockClient struct{ Client }

func (blockClient) Sensor(ctx context.Context, _ Sensor) (Sensor, error) {
	<-ctx.Done()
	return Sensor{}, ctx.Err()
}

// queueTarget serves sensor calls one at a time, each taking service: a
// single-server queue whose latency grows with the offered rate and
// without bound once the rate passes 1/service.
type queueTarget struct {
	name    string
	service time.Duration
	mu      sync.Mutex
}

func (q *queueTarget) Name() string { return q.name }
func (q *queueTarget) Start(context.Context) (Endpoint, error) {
	return Endpoint{Addr: "queue", Embedded: true}, nil
}
func (q *queueTarget) Dial(context.Context) (Client, error) { return queueClient{q}, nil }
func (q *queueTarget) Close() error                         { return nil }

type queueClient struct{ q *queueTarget }

func (c queueClient) Sensor(_ context.Context, s Sensor) (Sensor, error) {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	time.Sleep(c.q.service)
	return s, nil
}
func (queueClient) Echo(context.Context, []byte) ([]byte, error) { return nil, errBroken }
func (queueClient) SendSensor(context.Context, Sensor) error     { return errBroken }
func (queueClient) Send(context.Context, []byte) error           { return errBroken }
func (queueClient) Flush(context.Context) (uint64, error)        { return 0, errBroken }
func (queueClient) WireBytes() uint64                            { return 0 }
func (queueClient) Close() error                                 { return nil }

func TestRunCapacityFindsTheKnee(t *testing.T) {
	// Two queues serving at most 200 (5 ms each) and 40 (25 ms each)
	// calls/s. Offered 20, 100, 500/s: the fast queue keeps up with 100/s
	// (5 ms plus timer slack) and drowns at 500/s (a 300 ms step leaves
	// hundreds of ms of backlog); the slow one drowns at 100/s.
	fast := &queueTarget{name: "fast", service: 5 * time.Millisecond}
	slow := &queueTarget{name: "slow", service: 25 * time.Millisecond}
	o := DefaultOptions()
	o.Kinds = []string{report.KindCapacity}
	o.Baseline = "slow"
	o.Progress = ProgressLines
	o.SampleInterval = 50 * time.Millisecond
	o.Capacity = CapacityOptions{SLO: 100 * time.Millisecond, StartRate: 20, Factor: 5, MaxRate: 500,
		Step: 300 * time.Millisecond, Conns: 8, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := Run(ctx, o, []Target{fast, slow}, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	c := res.Capacity
	if c == nil || len(res.Benchmarks) != 0 {
		t.Fatalf("capacity %+v, benchmarks %d", c, len(res.Benchmarks))
	}
	want := map[string]float64{"fast": 100, "slow": 20}
	for name, capacity := range want {
		cr := c.Result(name)
		if cr == nil || cr.CapacityPerSec != capacity || cr.Stop != report.StopLatency {
			t.Fatalf("%s: %+v, want capacity %v stopped by p99\n%s", name, cr, capacity, out.String())
		}
		last := cr.Steps[len(cr.Steps)-1]
		if last.Latency.P99Us < 2*c.SLOUs || last.Attempts != 2 {
			t.Errorf("%s: last step %+v, want p99 far above the SLO after 2 attempts", name, last)
		}
	}
	if len(res.Ratios) != 1 || res.Ratios[0].Benchmark != report.CapacityID || res.Ratios[0].Throughput != 5 {
		t.Fatalf("ratios %+v, want capacity fast/slow = 5", res.Ratios)
	}
	// One progress line per step, a missed one after its second attempt
	// (a met one too when noise made its first attempt miss): fast 20,
	// 100, 500; slow 20, 100, and the slow ladder's third step counted as
	// skipped.
	lines := out.String()
	if n := strings.Count(lines, "capacity  "); n != 5 || strings.Count(lines, "MISSED (attempt 2)") != 2 || !strings.Contains(lines, "[5/6]") {
		t.Errorf("progress, want 5 lines of 6 steps, the 2 misses on a second attempt:\n%s", lines)
	}
}
