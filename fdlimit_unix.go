//go:build unix

package binproto

import "syscall"

// defaultMaxConnections is seven eighths of the file-descriptor limit, the
// rest left for listeners, files and outgoing connections; 0 (no bound)
// when the limit cannot be read or is practically unlimited.
func defaultMaxConnections() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 || lim.Cur >= 1<<24 {
		return 0
	}
	return int(lim.Cur - lim.Cur/8)
}
