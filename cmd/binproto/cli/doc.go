// Package cli implements the binproto command-line tool: its bench and serve
// commands, shared by cmd/binproto and examples/basic_client --benchmark.
//
//	binproto bench [--all|--fixed|--variable|--realistic|--capacity] [flags]
//	binproto serve [--addr HOST:PORT] [--tls-cert F --tls-key F] [--checksum] [--udp]
//
// bench runs the benchmark suite on the binproto target and the HTTP/JSON
// baseline, prints summary tables and writes results.json, PNG plots and
// report.md to --out. Its capacity mode (--capacity, --slo and the
// --capacity-* flags, in capacityflags.go) finds each target's highest
// open-loop rate within a p99 target. serve runs a binproto server for
// benchmarks from another process.
//
// # Adding a target
//
// A target is a package under internal/target that implements bench.Target
// and bench.Client (see internal/bench/driver.go) and exposes a
// constructor, as internal/target/binprototarget and
// internal/target/httpjson do. The command lists its targets explicitly in
// defaultWiring (targets.go): add the new one to the candidates, to be
// measured next to the baseline with a target/baseline ratio for each of
// its figures, or to the baselines selectable with --baseline.
//
// The Client's Flush must return how many one-way messages the server has
// received from that client (for example through a "count" request
// answered from a per-connection counter), so that streams count delivered
// messages only.
package cli
