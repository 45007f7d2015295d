package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Decode parses results.json content strictly (unknown fields are errors)
// and validates it against schema version SchemaVersion.
func Decode(data []byte) (*Results, error) {
	var head struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a results file: %w", err)
	}
	if head.SchemaVersion == nil {
		return nil, errors.New("not a results file: no schema_version")
	}
	if *head.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("schema_version %d is not supported (want %d)", *head.SchemaVersion, SchemaVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Results
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("schema v%d: %w", SchemaVersion, err)
	}
	if err := Validate(&r); err != nil {
		return nil, fmt.Errorf("schema v%d: %w", SchemaVersion, err)
	}
	return &r, nil
}

// Validate checks the invariants of schema version 1 that the JSON types
// alone cannot express: required fields, known enumerations, consistent
// round counts, finite non-negative figures, ordered percentiles, and
// references between sections.
func Validate(r *Results) error {
	if r == nil {
		return errors.New("nil results")
	}
	if r.SchemaVersion != SchemaVersion {
		return fmt.Errorf("schema_version is %d, want %d", r.SchemaVersion, SchemaVersion)
	}
	if r.Tool == "" || r.StartedAt.IsZero() {
		return errors.New("tool and started_at are required")
	}
	if err := validateConfig(&r.Config); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	targets, err := validateTargets(r)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range r.Benchmarks {
		b := &r.Benchmarks[i]
		if seen[b.ID] {
			return fmt.Errorf("benchmark %q appears twice", b.ID)
		}
		seen[b.ID] = true
		if err := validateBenchmark(b, targets, r.Config.Rounds); err != nil {
			return fmt.Errorf("benchmark %q: %w", b.ID, err)
		}
	}
	if err := validateCapacity(r, targets); err != nil {
		return err
	}
	seen[CapacityID] = r.Capacity != nil
	for _, q := range r.Ratios {
		if !seen[q.Benchmark] || !targets[q.Target] || !targets[q.Baseline] {
			return fmt.Errorf("ratio %s/%s on %q refers to unknown names", q.Target, q.Baseline, q.Benchmark)
		}
		if err := nonNegative("ratio", q.Throughput, q.P99, q.WireBytes); err != nil {
			return err
		}
	}
	if err := validateChecks(r.Checks, seen); err != nil {
		return err
	}
	for i, s := range r.Resources {
		if err := nonNegative("resource sample", s.T, s.CPUPercent); err != nil {
			return err
		}
		if i > 0 && s.T < r.Resources[i-1].T {
			return fmt.Errorf("resource samples out of time order at %d", i)
		}
	}
	return nil
}

func validateConfig(c *Config) error {
	if len(c.Kinds) == 0 {
		return errors.New("kinds is empty")
	}
	for _, k := range c.Kinds {
		if !KnownKind(k) {
			return fmt.Errorf("unknown kind %q", k)
		}
		if IsShared(k) && c.SharedDurationSeconds <= 0 {
			return fmt.Errorf("kind %q needs shared_duration_seconds > 0", k)
		}
	}
	if c.Rounds < 1 || c.DurationSeconds <= 0 {
		return errors.New("rounds must be >= 1 and duration_seconds > 0")
	}
	return nonNegative("config", c.RampSeconds, c.ThinkSeconds, c.OneWayFraction, c.SharedDurationSeconds)
}

func validateTargets(r *Results) (map[string]bool, error) {
	if len(r.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	names := map[string]bool{}
	baselines := 0
	for _, t := range r.Targets {
		if t.Name == "" || names[t.Name] {
			return nil, fmt.Errorf("target name %q is empty or repeated", t.Name)
		}
		names[t.Name] = true
		if t.Baseline {
			baselines++
		}
	}
	if baselines > 1 {
		return nil, errors.New("more than one baseline target")
	}
	if (baselines == 1) != (r.Config.Baseline != "") || (baselines == 1 && !names[r.Config.Baseline]) {
		return nil, fmt.Errorf("config.baseline %q does not match the targets", r.Config.Baseline)
	}
	return names, nil
}

func validateBenchmark(b *Benchmark, targets map[string]bool, rounds int) error {
	if b.ID == "" {
		return errors.New("empty id")
	}
	if !KnownKind(b.Kind) {
		return fmt.Errorf("unknown kind %q", b.Kind)
	}
	if !slices.Contains([]string{ModeRequestResponse, ModeStream, ModeMixed}, b.Mode) {
		return fmt.Errorf("unknown mode %q", b.Mode)
	}
	if b.Clients < 1 || b.PayloadBytes < 0 {
		return errors.New("clients must be >= 1 and payload_bytes >= 0")
	}
	if len(b.Results) == 0 {
		return errors.New("no results")
	}
	for _, tr := range b.Results {
		if !targets[tr.Target] {
			return fmt.Errorf("unknown target %q", tr.Target)
		}
		if len(tr.Rounds) != rounds {
			return fmt.Errorf("target %q has %d rounds, config says %d", tr.Target, len(tr.Rounds), rounds)
		}
		for i := range tr.Rounds {
			if err := validateRound(&tr.Rounds[i], i+1); err != nil {
				return fmt.Errorf("target %q round %d: %w", tr.Target, i+1, err)
			}
		}
		if tr.Summary.MsgsPerSec.N != rounds {
			return fmt.Errorf("target %q: summary covers %d rounds, want %d", tr.Target, tr.Summary.MsgsPerSec.N, rounds)
		}
	}
	return nil
}

func validateRound(rr *RoundResult, want int) error {
	if rr.Round != want {
		return fmt.Errorf("round number %d, want %d", rr.Round, want)
	}
	if rr.DurationSeconds <= 0 {
		return errors.New("duration_seconds must be > 0")
	}
	if rr.Messages > rr.Sent {
		return fmt.Errorf("messages %d > sent %d", rr.Messages, rr.Sent)
	}
	if rr.SlowCalls > rr.Messages || rr.Held > rr.Messages-rr.SlowCalls {
		return fmt.Errorf("slow calls %d and held fast calls %d do not fit in %d messages", rr.SlowCalls, rr.Held, rr.Messages)
	}
	l := rr.Latency
	if err := nonNegative("round", rr.MsgsPerSec, rr.MBPerSec, rr.WireBytesPerMsg, rr.AllocsPerMsg,
		rr.CPUPercent, rr.GC.PauseTotalMs, rr.GC.PauseMaxMs, l.MeanUs, l.P50Us, rr.OfferedPerSec,
		rr.Fairness.MinMsgsPerSec, rr.Fairness.Jain); err != nil {
		return err
	}
	if l.Count < 0 || !(l.P50Us <= l.P90Us && l.P90Us <= l.P99Us && l.P99Us <= l.P999Us && l.P999Us <= l.MaxUs) {
		return fmt.Errorf("latency percentiles not ordered: %+v", l)
	}
	f := rr.Fairness
	if f.Jain > 1+1e-9 || f.MinMsgsPerSec > f.MedianMsgsPerSec || f.MedianMsgsPerSec > f.MaxMsgsPerSec {
		return fmt.Errorf("fairness figures inconsistent: %+v", f)
	}
	return nonNegative("client throughput", rr.ClientMsgsPerSec...)
}

func nonNegative(what string, vs ...float64) error {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%s: value %v is not a finite non-negative number", what, v)
		}
	}
	return nil
}
