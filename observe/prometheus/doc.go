// Package binprom exports what a binproto Server or Client observes as
// Prometheus metrics, with prometheus/client_golang. It lives in a module
// of its own, so that the binproto library keeps no dependency beyond the
// standard library.
//
// New returns an *Observer: set it as Server.Observer (or
// ClientOptions.Observer) and register it with a prometheus.Registerer; it
// is a prometheus.Collector. Its metrics (with the default namespace
// "binproto"):
//
//	binproto_messages_total{side,direction,type,outcome}          counter
//	binproto_message_duration_seconds{side,direction,type}        histogram (classic and native)
//	binproto_received_bytes_total{side,type}                      counter
//	binproto_sent_bytes_total{side,type}                          counter
//	binproto_connections_active{side}                             gauge
//	binproto_connections_opened_total{side}                       counter
//	binproto_connections_closed_total{side,reason}                counter
//	binproto_connections_rejected_total{side,reason}              counter
//	binproto_authentications_total{side,result}                   counter
//	binproto_rate_limited_total{side}                             counter
//
// Every label has a closed set of values: side is "server" or "client",
// direction "in" or "out", outcome one of binproto.Outcomes, reason one of
// the binproto.Close* reasons, result "ok" or "failed", and type one of the
// Protocol's configured types (its number, or the name given in
// Options.TypeNames) or "other" for a type the Protocol does not know (a
// peer sending unknown types cannot grow the series). There is no label
// per peer. The children of each metric are resolved once, on first use,
// and cached: observing a message does not allocate.
//
// Scrape and ParseText read an exposition back (Samples), as the tests
// and the binproto CLI's bench --scrape do.
package binprom
