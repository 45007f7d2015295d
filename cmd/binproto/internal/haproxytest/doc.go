// Package haproxytest holds the integration tests of the PROXY protocol
// against the real thing: HAProxy (Debian's haproxy package) in mode tcp
// with send-proxy-v2, started as a child process with a generated
// configuration in front of three binproto servers on loopback ports.
//
// The tests need the haproxy binary. scripts/test.sh installs it when it
// is missing and sets BINPROTO_REQUIRE_HAPROXY=1, so that CI fails rather
// than skips when it is absent; elsewhere the tests skip, saying so, when
// haproxy is not installed and that variable is unset.
//
// The clients dial HAProxy from 127.0.0.2 and 127.0.0.3 (Linux routes all
// of 127/8 to the loopback interface) while HAProxy connects to the
// servers from 127.0.0.1, so that the client's address and the balancer's
// differ.
package haproxytest
