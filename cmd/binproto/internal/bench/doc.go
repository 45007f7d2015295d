// Package bench runs the binproto benchmark suite against a set of targets
// (systems under test) and returns the figures as a report.Results.
//
// A target is anything that implements Target and Client: the binproto
// target (internal/target/binprototarget) and the HTTP/JSON baseline
// (internal/target/httpjson) implement the same two interfaces. Run executes, for
// every round, every selected workload on every target, so that every
// figure of a target has a baseline figure measured in the same run:
//
//   - fixed: the 16-byte "sensor" message (four float32), request/response
//     on one connection with every reply checked for equality, and one-way
//     streaming (batched when the client implements BatchSender) whose
//     throughput counts only messages the server confirms at a final Flush;
//   - variable: the same two modes with opaque payloads of each configured
//     size, giving msgs/s and MB/s scaling curves;
//   - realistic: many clients ramped up over a short period, each following
//     an open-loop schedule (random think times, random sizes, a mix of
//     request/response and one-way messages); latency is measured from each
//     message's intended send time, so a slow server cannot hide its delay
//     by slowing the senders down (no coordinated omission);
//   - capacity (after the rounds, one ladder per target): the sensor call
//     at an open-loop offered rate raised step by step (StartRate ×
//     Factor^k) until a step's p99 latency, measured from each call's
//     intended start, exceeds the SLO or errors appear; the capacity is
//     the highest rate that met it (see CapacityOptions and openLoop).
//
// Each phase records throughput, latency percentiles (HdrHistogram), errors,
// bytes on the wire per message, allocations per message, CPU, peak RSS and
// GC pauses. CPU, RSS, allocation and GC figures cover the whole process:
// with an embedded server they include the server's work too.
package bench
