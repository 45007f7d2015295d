// Package binprototarget is the binproto target of the benchmark suite: the
// system the suite measures against the HTTP/JSON baseline
// (internal/target/httpjson).
//
// The benchmark protocol is the quick-start one (sensor readings and opaque
// payloads, echoed), plus one-way variants of both that the server counts
// per connection and a count request that returns that count, so that a
// client's Flush confirms the one-way messages delivered.
//
// New returns the target (a bench.Target) for an embedded server or an
// external one; Serve runs the benchmark server for `binproto serve`.
package binprototarget
