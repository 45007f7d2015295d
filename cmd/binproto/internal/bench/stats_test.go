package bench

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

func TestSummarize(t *testing.T) {
	s := summarize([]float64{4, 1, 3, 2})
	want := report.Stat{N: 4, Median: 2.5, Min: 1, Max: 4, Mean: 2.5, Stddev: math.Sqrt(5.0 / 3)}
	if math.Abs(s.Stddev-want.Stddev) > 1e-12 {
		t.Fatalf("stddev %v, want %v", s.Stddev, want.Stddev)
	}
	s.Stddev = want.Stddev
	if s != want {
		t.Fatalf("summarize = %+v, want %+v", s, want)
	}
	if one := summarize([]float64{7}); one.Median != 7 || one.Stddev != 0 || one.N != 1 {
		t.Fatalf("single value: %+v", one)
	}
	if empty := summarize(nil); empty != (report.Stat{}) {
		t.Fatalf("empty: %+v", empty)
	}
}

func TestJain(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{[]float64{5, 5, 5, 5}, 1},
		{[]float64{1, 0, 0, 0}, 0.25},
		{[]float64{1, 3}, 16.0 / 20},
		{nil, 0},
		{[]float64{0, 0}, 0},
	}
	for _, c := range cases {
		if got := jain(c.in); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("jain(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	f := fairness([]float64{10, 30, 20})
	if f.MinMsgsPerSec != 10 || f.MedianMsgsPerSec != 20 || f.MaxMsgsPerSec != 30 || f.Jain <= 0.8 || f.Jain >= 1 {
		t.Fatalf("fairness = %+v", f)
	}
}

func TestRecorderPercentiles(t *testing.T) {
	r := newRecorder()
	for i := 1; i <= 1000; i++ {
		r.record(time.Duration(i) * time.Microsecond)
	}
	l := r.latency()
	if l.Count != 1000 {
		t.Fatalf("count %d", l.Count)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.002+0.01 }
	if !near(l.P50Us, 500) || !near(l.P90Us, 900) || !near(l.P99Us, 990) || !near(l.P999Us, 999) || !near(l.MaxUs, 1000) {
		t.Fatalf("percentiles off: %+v", l)
	}
	if !near(l.MeanUs, 500.5) {
		t.Fatalf("mean %v", l.MeanUs)
	}
	r.record(-time.Second)   // clamped to the lowest value
	r.record(time.Hour * 24) // clamped to the highest value
	if l := r.latency(); l.Count != 1002 || l.MaxUs < 59e6 {
		t.Fatalf("clamping: %+v", l)
	}
	if (newRecorder().latency() != report.Latency{}) {
		t.Fatal("empty recorder must give zero latency")
	}
}

func TestLogUniformAndThinkTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	small, large := 0, 0
	for range 20000 {
		v := logUniform(rng, 16, 4096)
		if v < 16 || v > 4096 {
			t.Fatalf("logUniform out of range: %d", v)
		}
		if v < 256 {
			small++
		} else {
			large++
		}
	}
	// log-uniform: [16,256) and [256,4096] span the same log width.
	if ratio := float64(small) / float64(large); ratio < 0.9 || ratio > 1.1 {
		t.Fatalf("not log-uniform: %d below 256, %d above", small, large)
	}
	if logUniform(rng, 7, 7) != 7 {
		t.Fatal("degenerate range")
	}
	var sum time.Duration
	for range 20000 {
		d := thinkTime(rng, 10*time.Millisecond)
		if d < 0 || d > 100*time.Millisecond {
			t.Fatalf("think time %v out of range", d)
		}
		sum += d
	}
	if mean := sum / 20000; mean < 9*time.Millisecond || mean > 11*time.Millisecond {
		t.Fatalf("mean think time %v, want about 10ms", mean)
	}
}

func TestOfferedRate(t *testing.T) {
	o := DefaultOptions()
	o.Clients, o.Think, o.Duration, o.Ramp = 10, 10*time.Millisecond, time.Second, 0
	// 100 messages per client over the second, plus the one at its start.
	if got := offeredRate(&o); math.Abs(got-1010) > 1e-6 {
		t.Fatalf("no ramp: %v, want 1010", got)
	}
	o.Ramp = 500 * time.Millisecond // clients start at 0, 50, ..., 450 ms
	if got := offeredRate(&o); math.Abs(got-785) > 1e-6 {
		t.Fatalf("with ramp: %v, want 785", got)
	}
}

func TestGCDelta(t *testing.T) {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&b)
	g := gcDelta(&a, &b)
	if g.Count < 2 || g.PauseTotalMs <= 0 || g.PauseMaxMs <= 0 || g.PauseMaxMs > g.PauseTotalMs {
		t.Fatalf("gcDelta = %+v", g)
	}
}

func TestStampAndPayload(t *testing.T) {
	a, b := newPayload(64, 1), newPayload(64, 1)
	if string(a) != string(b) {
		t.Fatal("payloads must be reproducible")
	}
	stamp(a, 1)
	stamp(b, 2)
	if string(a) == string(b) {
		t.Fatal("stamped payloads must differ")
	}
	one := []byte{0}
	stamp(one, 3)
	if one[0] != 3 {
		t.Fatal("stamp of a one-byte payload")
	}
	if sensorAt(1) == sensorAt(2) {
		t.Fatal("sensor readings must differ")
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := DefaultOptions()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := map[string]func(*Options){
		"no kinds":      func(o *Options) { o.Kinds = nil },
		"unknown kind":  func(o *Options) { o.Kinds = []string{"bogus"} },
		"zero duration": func(o *Options) { o.Duration = 0 },
		"zero rounds":   func(o *Options) { o.Rounds = 0 },
		"zero clients":  func(o *Options) { o.Clients = 0 },
		"ramp too long": func(o *Options) { o.Ramp = o.Duration },
		"zero think":    func(o *Options) { o.Think = 0 },
		"one-way > 1":   func(o *Options) { o.OneWayFraction = 1.5 },
		"size zero":     func(o *Options) { o.Sizes = []int{0} },
		"size huge":     func(o *Options) { o.Sizes = []int{MaxPayload + 1} },
		"no sizes":      func(o *Options) { o.Sizes = nil },
		"min > max":     func(o *Options) { o.MinSize, o.MaxSize = 100, 10 },
		"too much mem":  func(o *Options) { o.Clients, o.MaxSize = 10000, MaxPayload },
		"batch zero":    func(o *Options) { o.BatchSize = 0 },
	}
	for name, mutate := range bad {
		o := DefaultOptions()
		mutate(&o)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, o)
		}
	}
}
