package attack

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// RSS is the server process's resident memory during an attack.
type RSS struct {
	// BeforeMB is the first sample, taken as the attack starts.
	BeforeMB float64 `json:"before_mb"`
	// PeakMB is the largest sample.
	PeakMB float64 `json:"peak_mb"`
	// Samples is the number of samples taken.
	Samples int `json:"samples"`
	// Error is set if the process could no longer be read (it exited).
	Error string `json:"error,omitempty"`
}

// rssInterval is the sampling period.
const rssInterval = 50 * time.Millisecond

// rssSampler samples a process's RSS every rssInterval.
type rssSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	r      RSS
}

func startRSS(ctx context.Context, pid int32) (*rssSampler, error) {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return nil, fmt.Errorf("server process %d: %w", pid, err)
	}
	mi, err := p.MemoryInfoWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("memory of process %d: %w", pid, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &rssSampler{cancel: cancel, done: make(chan struct{})}
	s.r = RSS{BeforeMB: mb(mi.RSS), PeakMB: mb(mi.RSS), Samples: 1}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(rssInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			mi, err := p.MemoryInfoWithContext(ctx)
			s.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					s.r.Error = err.Error()
				}
				s.mu.Unlock()
				return
			}
			s.r.Samples++
			s.r.PeakMB = max(s.r.PeakMB, mb(mi.RSS))
			s.mu.Unlock()
		}
	}()
	return s, nil
}

func (s *rssSampler) stop() RSS {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
