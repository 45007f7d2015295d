// Package cli implements the binproto command-line tool: its bench and serve
// commands, shared by cmd/binproto and examples/basic_client --benchmark.
//
//	binproto bench [--all|--fixed|--variable|--realistic|--concurrent|--hol|--capacity] [flags]
//	binproto serve [--addr HOST:PORT] [--tls-cert F --tls-key F] [--checksum] [--udp] [--schema FILE]
//	binproto gen go|python SCHEMA [--out ...]
//	binproto schema check SCHEMA | schema diff OLD NEW
//	binproto call --schema FILE --type NAME (--json OBJECT | --field NAME=VALUE...) [--addr HOST:PORT]
//	binproto decode --schema FILE [--hex] [CAPTURE]
//
// bench runs the benchmark suite on the binproto target and the HTTP/JSON
// baseline, prints summary tables and writes results.json, PNG plots and
// report.md to --out. serve runs a binproto server for benchmarks from
// another process (with --schema, any protocol of a schema file, echoed).
// gen, schema, call and decode work from a schema file (package
// internal/schemafile): generated Go and Python code, compatibility checks,
// one message from the shell, captures as JSON lines. bench's capacity mode
// (--capacity, --slo and the --capacity-* flags, in capacityflags.go) finds
// each target's highest open-loop rate within a p99 target.
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
