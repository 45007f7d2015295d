package resources

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// Sample is one reading. T is the time since the sampler started. CPUPercent
// is the process's CPU time over the wall time since the previous sample, in
// percent of one core (so up to 100×cores).
type Sample struct {
	T          time.Duration
	CPUPercent float64
	RSSBytes   uint64
	Label      string
	Target     string
}

// Sampler reads the process's CPU time and RSS periodically. Its methods are
// safe for concurrent use.
type Sampler struct {
	proc     *process.Process
	interval time.Duration
	start    time.Time

	mu       sync.Mutex
	samples  []Sample
	label    string
	target   string
	peak     uint64
	lastCPU  time.Duration
	lastWall time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

// NewSampler returns a sampler of the current process that samples every
// interval once started.
func NewSampler(interval time.Duration) (*Sampler, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("sample interval must be positive, got %v", interval)
	}
	p, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("open own process: %w", err)
	}
	return &Sampler{proc: p, interval: interval}, nil
}

// Start takes a first sample and starts sampling in the background until
// Stop is called or ctx ends.
func (s *Sampler) Start(ctx context.Context) error {
	cpu, err := s.cpuTime()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.start = time.Now()
	s.lastWall, s.lastCPU = s.start, cpu
	s.mu.Unlock()
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.sample()
		}
	}
}

// Stop ends sampling and returns every sample taken, in time order.
func (s *Sampler) Stop() []Sample {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, len(s.samples))
	copy(out, s.samples)
	return out
}

// SetPhase labels the samples taken from now on and resets the phase's
// peak RSS. An empty label means "between phases".
func (s *Sampler) SetPhase(label, target string) {
	s.mu.Lock()
	s.label, s.target, s.peak = label, target, 0
	s.mu.Unlock()
}

// PhasePeakRSS reads the RSS now and returns the highest RSS seen since
// the last SetPhase. The reading is not added to the samples, whose CPU
// figures need the regular interval to be meaningful.
func (s *Sampler) PhasePeakRSS() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mem, err := s.proc.MemoryInfo(); err == nil {
		s.peak = max(s.peak, mem.RSS)
	}
	return s.peak
}

func (s *Sampler) sample() {
	// Holding the lock while reading keeps samples in time order.
	s.mu.Lock()
	defer s.mu.Unlock()
	cpu, errCPU := s.cpuTime()
	mem, errMem := s.proc.MemoryInfo()
	if errCPU != nil || errMem != nil {
		return
	}
	now := time.Now()
	pct := 0.0
	if wall := now.Sub(s.lastWall); wall > 0 {
		pct = max(0, float64(cpu-s.lastCPU)/float64(wall)*100)
	}
	s.lastWall, s.lastCPU = now, cpu
	s.peak = max(s.peak, mem.RSS)
	s.samples = append(s.samples, Sample{
		T: now.Sub(s.start), CPUPercent: pct, RSSBytes: mem.RSS, Label: s.label, Target: s.target,
	})
}

// CPUTime returns the user plus system CPU time the process has used.
func (s *Sampler) CPUTime() (time.Duration, error) { return s.cpuTime() }

func (s *Sampler) cpuTime() (time.Duration, error) {
	t, err := s.proc.Times()
	if err != nil {
		return 0, fmt.Errorf("read process CPU time: %w", err)
	}
	return time.Duration((t.User + t.System) * float64(time.Second)), nil
}
