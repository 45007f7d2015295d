//go:build !unix

package attack

// fdLimit returns 0: no file-descriptor limit is known here.
func fdLimit() uint64 { return 0 }
