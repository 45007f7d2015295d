// Package cli implements the binproto command-line tool: its bench and serve
// commands, shared by cmd/binproto and examples/basic_client --benchmark.
//
//	binproto bench [--all|--fixed|--variable|--realistic] [flags]
//	binproto serve [--addr HOST:PORT] [--tls-cert F --tls-key F] [--checksum] [--udp]
//
// bench runs the benchmark suite on every available target (the binproto
// driver, when this build has one, and the HTTP/JSON baseline), prints
// summary tables and writes results.json, PNG plots and report.md to --out.
// serve runs a binproto server for benchmarks from another process.
//
// # Adding a target
//
// A target is one file in this package that implements bench.Target and
// bench.Client (see internal/bench/driver.go) and registers itself:
//
//	func init() {
//		registerTarget("binproto", func(cfg bench.TargetConfig) (bench.Target, error) {
//			return newBinprotoTarget(cfg.Addr), nil // cfg.Addr is --addr, "" = embedded
//		})
//		serveBinproto = runBinprotoServer // replaces the stub in serve.go
//	}
//
// Every registered target runs in every benchmark next to the baseline, and
// its figures get a target/baseline ratio. The Client's Flush must return
// how many one-way messages the server has received from that client (for
// example through a "count" request answered from a per-connection counter),
// so that streams count delivered messages only.
package cli
