//go:build unix

package app

import (
	"fmt"
	"syscall"
)

// openFilesLimit returns how many descriptors the process may open: the
// soft RLIMIT_NOFILE, raised to the hard one first. The Go runtime already
// raises it when the process starts (since Go 1.19; to the hard limit less
// one on Linux, see syscall/rlimit.go), so this raises only where it did
// not. The instance's stream cap is derived from the result.
func openFilesLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open-files limit: %w", err)
	}
	cur, hard := uint64(lim.Cur), uint64(lim.Max) // int64 on some systems
	if cur+1 < hard {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			cur = hard
		}
	}
	return cur, nil
}
