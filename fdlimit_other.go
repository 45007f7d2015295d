//go:build !unix

package binproto

// defaultMaxConnections is 0 (no bound) where there is no file-descriptor
// limit to derive it from.
func defaultMaxConnections() int { return 0 }
