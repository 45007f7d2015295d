//go:build unix

package main

import "syscall"

// fdLimit returns the soft file-descriptor limit, or 0 if unknown.
func fdLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur)
}
