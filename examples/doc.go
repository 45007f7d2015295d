// Package examples holds runnable programs that use binproto's public API
// only: basic_server serves the Python quick-start message types and
// basic_client talks to it (and, with --benchmark, runs the benchmark
// suite); gateway is an IoT gateway; native shows the native profile, with
// a compatible client on the same port. Each program's own doc comment
// says how to run it.
package examples
