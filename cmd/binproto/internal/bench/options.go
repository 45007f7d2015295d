package bench

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// ProgressMode chooses how Run reports progress.
type ProgressMode int

// Progress modes.
const (
	// ProgressAuto draws a bar when the output is a terminal and prints one
	// line per phase otherwise.
	ProgressAuto ProgressMode = iota
	// ProgressLines prints one line per phase.
	ProgressLines
	// ProgressNone prints nothing while running.
	ProgressNone
)

// Options configures Run. Start from DefaultOptions.
type Options struct {
	// Kinds lists the workloads to run: any of report.Kinds (fixed,
	// variable, realistic, concurrent, hol, capacity), or report.KindSchema.
	Kinds []string
	// Duration is the measured time of each phase (one workload on one
	// target in one round).
	Duration time.Duration
	// Warmup is the unmeasured time spent on the workload's operation
	// before each single-client phase.
	Warmup time.Duration
	// Rounds is how many times every phase is repeated, for spread.
	Rounds int
	// Clients is the number of clients of the realistic workload.
	Clients int
	// Sizes are the payload sizes, in bytes, of the variable workload.
	Sizes []int
	// Ramp is the time over which realistic clients start.
	Ramp time.Duration
	// Think is the mean time between two messages of one realistic client
	// (exponentially distributed, so arrivals are Poisson).
	Think time.Duration
	// OneWayFraction is the share of realistic messages sent one-way.
	OneWayFraction float64
	// MinSize and MaxSize bound the realistic payload sizes, drawn
	// log-uniformly.
	MinSize, MaxSize int
	// BatchSize is the batch length used with clients that implement
	// BatchSender.
	BatchSize int
	// Seed makes the realistic schedules reproducible.
	Seed uint64
	// Baseline is the name of the target the others are compared with; ""
	// for none.
	Baseline string
	// SampleInterval is the period of the CPU/RSS sampler.
	SampleInterval time.Duration
	// Progress chooses the progress display.
	Progress ProgressMode
	// Schema is the workload of report.KindSchema (bench --schema).
	Schema *SchemaWorkload
	// SharedDuration is the measured time of each concurrent and hol phase.
	SharedDuration time.Duration
	// SharedOnly names targets measured only in the concurrent and hol
	// benchmarks: the peers those compare with, kept out of the others.
	SharedOnly []string
	// Checks names the targets that report.ComputeChecks relates.
	Checks report.CheckTargets
	// Capacity configures the capacity mode (report.KindCapacity in
	// Kinds); its zero value runs the default schedule. Rounds, Duration
	// and Warmup do not apply to it: each target climbs one ladder.
	Capacity CapacityOptions
}

// DefaultOptions returns the settings of `binproto bench --all`: about
// a minute per target on a two-core machine, the capacity mode on the
// QuickCapacity schedule.
func DefaultOptions() Options {
	return Options{
		Kinds:          slices.Clone(report.Kinds),
		Duration:       450 * time.Millisecond,
		Warmup:         100 * time.Millisecond,
		Rounds:         3,
		Clients:        100,
		Sizes:          []int{16, 256, 4096, 65536, 1 << 20},
		Ramp:           200 * time.Millisecond,
		Think:          20 * time.Millisecond,
		OneWayFraction: 0.3,
		MinSize:        16,
		MaxSize:        4096,
		BatchSize:      64,
		Seed:           1,
		SampleInterval: 200 * time.Millisecond,
		SharedDuration: 300 * time.Millisecond,
		Capacity:       QuickCapacity(),
	}
}

// MaxPayload is the largest payload size accepted in Sizes and MaxSize.
const MaxPayload = 16 << 20

// maxRealisticBuffers bounds the memory of the realistic clients' buffers.
const maxRealisticBuffers = 256 << 20

// Validate reports the first setting that cannot be run.
func (o *Options) Validate() error {
	if len(o.Kinds) == 0 {
		return errors.New("no benchmark selected (use --all, --fixed, --variable, --realistic, --concurrent, --hol or --capacity)")
	}
	for _, k := range o.Kinds {
		if !report.KnownKind(k) {
			return fmt.Errorf("unknown benchmark kind %q", k)
		}
	}
	if o.SharedDuration <= 0 {
		return fmt.Errorf("shared duration must be positive, got %v", o.SharedDuration)
	}
	if slices.Contains(o.Kinds, report.KindCapacity) {
		if err := o.Capacity.withDefaults().validate(); err != nil {
			return err
		}
	}
	switch {
	case o.Duration <= 0:
		return fmt.Errorf("duration must be positive, got %v", o.Duration)
	case o.Warmup < 0:
		return fmt.Errorf("warmup must not be negative, got %v", o.Warmup)
	case o.Rounds < 1:
		return fmt.Errorf("rounds must be at least 1, got %d", o.Rounds)
	case o.Clients < 1 || o.Clients > 10000:
		return fmt.Errorf("clients must be between 1 and 10000, got %d", o.Clients)
	case o.Ramp < 0 || o.Ramp >= o.Duration:
		return fmt.Errorf("ramp must be in [0, duration), got %v", o.Ramp)
	case o.Think <= 0:
		return fmt.Errorf("think time must be positive, got %v", o.Think)
	case o.OneWayFraction < 0 || o.OneWayFraction > 1:
		return fmt.Errorf("one-way fraction must be in [0, 1], got %v", o.OneWayFraction)
	case o.MinSize < 1 || o.MaxSize < o.MinSize || o.MaxSize > MaxPayload:
		return fmt.Errorf("realistic sizes must satisfy 1 <= min <= max <= %d, got %d..%d", MaxPayload, o.MinSize, o.MaxSize)
	case o.BatchSize < 1:
		return fmt.Errorf("batch size must be at least 1, got %d", o.BatchSize)
	case o.SampleInterval <= 0:
		return fmt.Errorf("sample interval must be positive, got %v", o.SampleInterval)
	}
	if int64(o.Clients)*int64(o.MaxSize) > maxRealisticBuffers {
		return fmt.Errorf("clients × max size must not exceed %d MiB", maxRealisticBuffers>>20)
	}
	if slices.Contains(o.Kinds, report.KindSchema) && o.Schema == nil {
		return errors.New("schema benchmark needs a schema workload")
	}
	if slices.Contains(o.Kinds, report.KindVariable) && len(o.Sizes) == 0 {
		return errors.New("variable benchmark needs at least one size")
	}
	for _, s := range o.Sizes {
		if s < 1 || s > MaxPayload {
			return fmt.Errorf("size %d out of range 1..%d", s, MaxPayload)
		}
	}
	return nil
}

func (o *Options) config() report.Config {
	c := report.Config{
		Kinds:            slices.Clone(o.Kinds),
		DurationSeconds:  o.Duration.Seconds(),
		Rounds:           o.Rounds,
		Clients:          o.Clients,
		Sizes:            slices.Clone(o.Sizes),
		RampSeconds:      o.Ramp.Seconds(),
		ThinkSeconds:     o.Think.Seconds(),
		OneWayFraction:   o.OneWayFraction,
		RealisticMinSize: o.MinSize,
		RealisticMaxSize: o.MaxSize,
		BatchSize:        o.BatchSize,
		Seed:             o.Seed,
		Baseline:         o.Baseline,
		SharedOnly:       slices.Clone(o.SharedOnly),
	}
	if slices.ContainsFunc(o.Kinds, report.IsShared) {
		c.SharedDurationSeconds = o.SharedDuration.Seconds()
	}
	return c
}
