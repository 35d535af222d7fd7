//go:build !linux

package timers_test

import "syscall"

// serverProcAttr has no way to tie the server's life to the test binary
// outside Linux: a test binary that dies leaves the server running.
func serverProcAttr() *syscall.SysProcAttr { return nil }
