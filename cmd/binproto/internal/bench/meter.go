package bench

import (
	"runtime"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/resources"
)

// meter measures the process-wide cost of the measured part of a phase:
// wall time, allocations, GC, CPU and peak RSS. A workload calls start just
// before its first measured message and stop just after the last one is
// confirmed.
type meter struct {
	sampler *resources.Sampler

	t0   time.Time
	ms0  runtime.MemStats
	cpu0 time.Duration

	elapsed time.Duration
	mallocs uint64
	gc      report.GCStats
	cpuPct  float64
	peakRSS uint64
}

func (m *meter) start() {
	runtime.ReadMemStats(&m.ms0)
	m.cpu0, _ = m.sampler.CPUTime()
	m.t0 = time.Now()
}

func (m *meter) stop() {
	m.elapsed = time.Since(m.t0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu, err := m.sampler.CPUTime()
	if err == nil && m.elapsed > 0 {
		m.cpuPct = max(0, float64(cpu-m.cpu0)/float64(m.elapsed)*100)
	}
	m.mallocs = ms.Mallocs - m.ms0.Mallocs
	m.gc = gcDelta(&m.ms0, &ms)
	m.peakRSS = m.sampler.PhasePeakRSS()
}

// gcDelta returns the collections between two MemStats readings. The pause
// ring buffer keeps the last 256 pauses, so the maximum covers at most those.
func gcDelta(a, b *runtime.MemStats) report.GCStats {
	n := b.NumGC - a.NumGC
	var maxPause uint64
	for i := uint32(0); i < n && i < uint32(len(b.PauseNs)); i++ {
		maxPause = max(maxPause, b.PauseNs[(b.NumGC-1-i)%uint32(len(b.PauseNs))])
	}
	return report.GCStats{
		Count:        n,
		PauseTotalMs: float64(b.PauseTotalNs-a.PauseTotalNs) / 1e6,
		PauseMaxMs:   float64(maxPause) / 1e6,
	}
}
