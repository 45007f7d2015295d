package resources

import (
	"context"
	"testing"
	"time"
)

// burnCPU spins until the process has used want more CPU time (or 20 s
// passed, on a very loaded machine) and returns the CPU time used.
func burnCPU(t *testing.T, s *Sampler, want time.Duration) time.Duration {
	t.Helper()
	start, err := s.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
		for i := range 100000 {
			x += i
		}
		if now, _ := s.CPUTime(); now-start >= want {
			return now - start
		}
	}
	_ = x
	t.Fatalf("could not burn %v of CPU in 20s", want)
	return 0
}

func TestSamplerLabelsCPUAndRSS(t *testing.T) {
	s, err := NewSampler(50 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.SetPhase("busy", "t1")
	time.Sleep(60 * time.Millisecond) // a sample interval before burning
	burnt := burnCPU(t, s, 400*time.Millisecond)
	big := make([]byte, 64<<20)
	for i := 0; i < len(big); i += 4096 { // one write per page makes it resident
		big[i] = byte(i >> 12)
	}
	peak := s.PhasePeakRSS()
	s.SetPhase("", "")
	time.Sleep(120 * time.Millisecond)
	samples := s.Stop()
	if again := s.Stop(); len(again) != len(samples) {
		t.Fatalf("second Stop returned %d samples, first %d", len(again), len(samples))
	}
	_ = big[len(big)-1]

	if peak < 64<<20 {
		t.Fatalf("peak RSS %d after touching 64 MiB", peak)
	}
	var busy, idle int
	var busyCPU float64 // CPU seconds the busy samples account for
	for i, smp := range samples {
		if i > 0 && smp.T < samples[i-1].T {
			t.Fatal("samples out of order")
		}
		if smp.RSSBytes == 0 {
			t.Fatal("sample without RSS")
		}
		switch smp.Label {
		case "busy":
			busy++
			if i > 0 {
				busyCPU += smp.CPUPercent / 100 * (smp.T - samples[i-1].T).Seconds()
			}
			if smp.Target != "t1" {
				t.Fatalf("busy sample with target %q", smp.Target)
			}
		case "":
			idle++
		}
	}
	if busy < 3 || idle < 1 {
		t.Fatalf("%d busy and %d idle samples", busy, idle)
	}
	// The busy samples' CPU % integrated over time must account for most
	// of the CPU burnt (the last stretch may fall into the idle phase).
	if busyCPU < 0.5*burnt.Seconds() || busyCPU > 2*burnt.Seconds()+0.3 {
		t.Fatalf("busy samples account for %.3fs of CPU, %v was burnt", busyCPU, burnt)
	}
}

func TestNewSamplerRejectsBadInterval(t *testing.T) {
	if _, err := NewSampler(0); err == nil {
		t.Fatal("zero interval accepted")
	}
}
