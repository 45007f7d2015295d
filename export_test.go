package binproto

import "os"

// BINPROTO_TEST_CLIENT_READ=always runs every test's clients in the
// always-reading mode (see Client); scripts/test.sh runs the package's
// tests in both modes.
func init() {
	if os.Getenv("BINPROTO_TEST_CLIENT_READ") == "always" {
		alwaysRead = true
	}
}
