package timers_test

import "syscall"

// serverProcAttr asks Linux to send SIGTERM to the server if the test binary
// dies without stopping it (a panic, or go test's own timeout).
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
