package mysqlproc

import "syscall"

// sysProcAttr puts the server in its own process group, so a terminal's
// Ctrl-C reaches only the parent, and asks the kernel to send SIGTERM to the
// server when the parent dies, so a killed test run leaves no orphans.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
