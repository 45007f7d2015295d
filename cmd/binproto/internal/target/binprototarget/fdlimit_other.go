//go:build !unix

package binprototarget

// fdLimit returns 0: no file-descriptor limit is known here.
func fdLimit() uint64 { return 0 }
