package binproto

import (
	"errors"
	"syscall"
)

func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// acceptRetryErrnos are the accept errors after which Serve backs off and
// tries again rather than returning: the process or system is out of file
// descriptors, buffers or memory for now, or a peer reset its connection
// before it was accepted.
var acceptRetryErrnos = []error{
	syscall.EMFILE,
	syscall.ENFILE,
	syscall.ENOBUFS,
	syscall.ENOMEM,
	syscall.ECONNABORTED,
}
