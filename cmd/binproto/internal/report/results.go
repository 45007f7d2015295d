package report

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// SchemaVersion is the version of the results.json layout written by this
// package. It is bumped whenever a field is removed or changes meaning.
const SchemaVersion = 1

// Benchmark kinds, the values of Benchmark.Kind.
const (
	KindFixed     = "fixed"
	KindVariable  = "variable"
	KindRealistic = "realistic"
	KindSchema    = "schema" // one type of a schema file (bench --schema)
	// KindConcurrent is many callers sharing one client and one connection.
	KindConcurrent = "concurrent"
	// KindHOL is the head-of-line test: fast callers and one caller whose
	// every 100th call is slow, sharing one connection.
	KindHOL = "hol"
)

// Kinds lists every benchmark kind that --all runs, in run order.
var Kinds = []string{KindFixed, KindVariable, KindRealistic, KindConcurrent, KindHOL, KindCapacity}

// KnownKind reports whether kind is a benchmark kind: one of Kinds, or
// KindSchema (bench --schema).
func KnownKind(kind string) bool { return kind == KindSchema || slices.Contains(Kinds, kind) }

// IsShared reports whether benchmarks of kind run many callers over one
// shared client and connection (concurrent, hol).
func IsShared(kind string) bool { return kind == KindConcurrent || kind == KindHOL }

// Benchmark modes, the values of Benchmark.Mode.
const (
	ModeRequestResponse = "request_response"
	ModeStream          = "stream"
	ModeMixed           = "mixed"
)

// Results is the whole outcome of one `binproto bench` run. It is what
// results.json holds.
type Results struct {
	SchemaVersion int          `json:"schema_version"`
	Tool          string       `json:"tool"`
	StartedAt     time.Time    `json:"started_at"`
	WallSeconds   float64      `json:"wall_seconds"`
	Environment   Environment  `json:"environment"`
	Config        Config       `json:"config"`
	Targets       []TargetInfo `json:"targets"`
	Benchmarks    []Benchmark  `json:"benchmarks"`
	Ratios        []Ratio      `json:"ratios"`
	Resources     []Sample     `json:"resources"`
	Notes         []string     `json:"notes"`
	// Checks are the targets of the shared-connection benchmarks, judged
	// (see ComputeChecks); absent when no check could be computed.
	Checks     []Check     `json:"checks,omitempty"`
	Comparison *Comparison `json:"comparison,omitempty"`
	// Capacity is the capacity mode's outcome, when KindCapacity ran.
	Capacity *Capacity `json:"capacity,omitempty"`
}

// Environment describes the machine and Go runtime the run used.
type Environment struct {
	GoVersion  string `json:"go_version"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Hostname   string `json:"hostname"`
}

// Config records the settings the run was made with.
type Config struct {
	Kinds            []string `json:"kinds"`
	DurationSeconds  float64  `json:"duration_seconds"`
	Rounds           int      `json:"rounds"`
	Clients          int      `json:"clients"`
	Sizes            []int    `json:"sizes"`
	RampSeconds      float64  `json:"ramp_seconds"`
	ThinkSeconds     float64  `json:"think_seconds"`
	OneWayFraction   float64  `json:"one_way_fraction"`
	RealisticMinSize int      `json:"realistic_min_size"`
	RealisticMaxSize int      `json:"realistic_max_size"`
	BatchSize        int      `json:"batch_size"`
	Seed             uint64   `json:"seed"`
	Baseline         string   `json:"baseline"`
	// SharedDurationSeconds is the measured time of each concurrent and
	// hol phase; 0 when neither ran.
	SharedDurationSeconds float64 `json:"shared_duration_seconds,omitempty"`
	// SharedOnly names targets measured only in the concurrent and hol
	// benchmarks (the peers those are compared with).
	SharedOnly []string `json:"shared_only,omitempty"`
}

// TargetInfo describes one system under test.
type TargetInfo struct {
	Name     string `json:"name"`
	Baseline bool   `json:"baseline"`
	Addr     string `json:"addr"`
	// Embedded is true when the target's server ran inside the benchmark
	// process, so that CPU, RSS, allocation and GC figures include the
	// server's share as well as the client's.
	Embedded bool `json:"embedded"`
}

// Benchmark is one workload (for example fixed/sensor-rr or
// variable/stream/4096) with the results of every target on it.
type Benchmark struct {
	ID           string         `json:"id"`
	Kind         string         `json:"kind"`
	Mode         string         `json:"mode"`
	PayloadBytes int            `json:"payload_bytes"`
	Clients      int            `json:"clients"`
	Results      []TargetResult `json:"results"`
}

// TargetResult is one target's outcome on one benchmark: every round, and
// the spread of the main figures over the rounds.
type TargetResult struct {
	Target  string        `json:"target"`
	Rounds  []RoundResult `json:"rounds"`
	Summary Summary       `json:"summary"`
}

// RoundResult holds the figures of one round of one benchmark on one target.
//
// Sent counts messages attempted; Messages those completed (a validated
// reply, or a one-way message the server confirmed at the final flush);
// Errors failed or wrong replies; Lost one-way messages sent but not
// confirmed. Rates divide by DurationSeconds, the measured time. MB are
// 10^6 bytes of payload. WireBytesPerMsg, AllocsPerMsg, CPUPercent (of
// one core), RSSMaxBytes and GC cover the measured time of the whole
// process. OfferedPerSec, Fairness and ClientMsgsPerSec are set by the
// realistic benchmark only.
type RoundResult struct {
	Round           int      `json:"round"`
	DurationSeconds float64  `json:"duration_seconds"`
	Sent            uint64   `json:"sent"`
	Messages        uint64   `json:"messages"`
	Errors          uint64   `json:"errors"`
	Lost            uint64   `json:"lost"`
	MsgsPerSec      float64  `json:"msgs_per_sec"`
	MBPerSec        float64  `json:"mb_per_sec"`
	Latency         Latency  `json:"latency"`
	WireBytesPerMsg float64  `json:"wire_bytes_per_msg"`
	AllocsPerMsg    float64  `json:"allocs_per_msg"`
	CPUPercent      float64  `json:"cpu_percent"`
	RSSMaxBytes     uint64   `json:"rss_max_bytes"`
	GC              GCStats  `json:"gc"`
	OfferedPerSec   float64  `json:"offered_per_sec,omitempty"`
	Fairness        Fairness `json:"fairness,omitzero"`
	// ClientMsgsPerSec is each client's own throughput (realistic only).
	ClientMsgsPerSec []float64 `json:"client_msgs_per_sec,omitempty"`
	// SlowCalls counts the slow calls of a hol round (whose handler sleeps);
	// Latency then covers the fast calls only.
	SlowCalls uint64 `json:"slow_calls,omitempty"`
	// Held counts the fast calls of a concurrent or hol round that took
	// HeldMicros or longer: those a slow call held up.
	Held uint64 `json:"held,omitempty"`
}

// HeldMicros is the latency, in microseconds, from which a fast call of a
// shared-connection benchmark counts as held (RoundResult.Held): 5 ms.
const HeldMicros = 5000

// Latency holds latency percentiles in microseconds. Count is 0 when the
// benchmark has no replies to time (one-way streams).
type Latency struct {
	Count  int64   `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
}

// GCStats counts garbage collections and their stop-the-world pauses during
// a round.
type GCStats struct {
	Count        uint32  `json:"count"`
	PauseTotalMs float64 `json:"pause_total_ms"`
	PauseMaxMs   float64 `json:"pause_max_ms"`
}

// Fairness summarises how evenly throughput was shared among clients.
// Jain is Jain's fairness index: 1 when all clients got the same
// throughput, 1/n when one client got everything.
type Fairness struct {
	MinMsgsPerSec    float64 `json:"min_msgs_per_sec"`
	MedianMsgsPerSec float64 `json:"median_msgs_per_sec"`
	MaxMsgsPerSec    float64 `json:"max_msgs_per_sec"`
	Jain             float64 `json:"jain"`
}

// Stat is the spread of one figure over the rounds.
type Stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
}

// Summary is the spread over rounds of the figures a reader compares.
type Summary struct {
	MsgsPerSec      Stat `json:"msgs_per_sec"`
	MBPerSec        Stat `json:"mb_per_sec"`
	P50Us           Stat `json:"p50_us"`
	P90Us           Stat `json:"p90_us"`
	P99Us           Stat `json:"p99_us"`
	P999Us          Stat `json:"p999_us"`
	MaxUs           Stat `json:"max_us"`
	Errors          Stat `json:"errors"`
	WireBytesPerMsg Stat `json:"wire_bytes_per_msg"`
	AllocsPerMsg    Stat `json:"allocs_per_msg"`
	CPUPercent      Stat `json:"cpu_percent"`
	RSSMaxMB        Stat `json:"rss_max_mb"`
	GCPauseTotalMs  Stat `json:"gc_pause_total_ms"`
	Jain            Stat `json:"jain"`
	// Held and SlowCalls summarise RoundResult.Held and SlowCalls; HeldPerSlow
	// is their ratio per round (0 for a round without slow calls).
	Held        Stat `json:"held,omitzero"`
	SlowCalls   Stat `json:"slow_calls,omitzero"`
	HeldPerSlow Stat `json:"held_per_slow,omitzero"`
}

// Ratio relates a target to the baseline on one benchmark, using the
// medians over rounds. Throughput is target/baseline (above 1 is better);
// P99 is target/baseline p99 latency (below 1 is better); 0 means "not
// applicable".
type Ratio struct {
	Benchmark  string  `json:"benchmark"`
	Target     string  `json:"target"`
	Baseline   string  `json:"baseline"`
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
	WireBytes  float64 `json:"wire_bytes"`
}

// Sample is one reading of the benchmark process's resource use. T is
// seconds since the run started; Label names the phase running then
// ("" between phases), Target the target it measured.
type Sample struct {
	T          float64 `json:"t"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   uint64  `json:"rss_bytes"`
	Label      string  `json:"label"`
	Target     string  `json:"target"`
}

// Result returns the result of target on benchmark b, or nil.
func (b *Benchmark) Result(target string) *TargetResult {
	for i := range b.Results {
		if b.Results[i].Target == target {
			return &b.Results[i]
		}
	}
	return nil
}

// Benchmark returns the benchmark with the given ID, or nil.
func (r *Results) Benchmark(id string) *Benchmark {
	for i := range r.Benchmarks {
		if r.Benchmarks[i].ID == id {
			return &r.Benchmarks[i]
		}
	}
	return nil
}

// BaselineName returns the name of the baseline target, or "".
func (r *Results) BaselineName() string {
	for _, t := range r.Targets {
		if t.Baseline {
			return t.Name
		}
	}
	return ""
}

// TargetNames returns the names of all targets in run order.
func (r *Results) TargetNames() []string {
	names := make([]string, len(r.Targets))
	for i, t := range r.Targets {
		names[i] = t.Name
	}
	return names
}

// Marshal encodes r as indented JSON after validating it.
func (r *Results) Marshal() ([]byte, error) {
	if err := Validate(r); err != nil {
		return nil, fmt.Errorf("results do not match schema v%d: %w", SchemaVersion, err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Load reads and validates a results.json file.
func Load(path string) (*Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
