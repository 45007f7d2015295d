// Package httpjson is the HTTP/JSON baseline target of the benchmark suite:
// the conventional way to send the same messages, against which binproto's
// figures are given as ratios.
//
// The server (Handler) answers, on net/http:
//
//	POST /sensor       {"s1":..,"s2":..,"s3":..,"s4":..} → the same reading
//	POST /echo         {"data":"<base64>"}               → the same payload
//	POST /send/sensor  a reading, one-way                → 204 No Content
//	POST /send         a payload, one-way                → 204 No Content
//	POST /count        → {"received": n}, the one-way messages received
//	                     from the client named by the X-Bench-Client header
//
// Every client sends an X-Bench-Client header with a random identifier, so
// concurrent clients (and concurrent benchmark processes against one
// external server) count their one-way messages separately. A client keeps
// one keep-alive connection and counts the bytes it writes and reads on it,
// HTTP headers included.
package httpjson
