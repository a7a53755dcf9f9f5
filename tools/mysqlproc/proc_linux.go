package mysqlproc

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"time"
)

// sysProcAttr puts the server in its own process group, so a terminal's
// Ctrl-C reaches only the parent, and asks the kernel to send SIGTERM to the
// server when the parent dies, so a killed test run leaves no orphans.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// awaitStopped waits (up to budget) until every thread of process pid is stopped: SIGSTOP is
// delivered asynchronously, and a busy thread could otherwise still answer a query after
// Freeze returned. It gives up quietly when /proc cannot tell.
func awaitStopped(pid int, budget time.Duration) {
	for deadline := time.Now().Add(budget); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if allStopped(pid) {
			return
		}
	}
}

// allStopped reports whether every thread of pid is in the stopped state (T or t).
func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true // gone, or no /proc: nothing to wait for
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue // the thread ended
		}
		// "tid (comm) S …": the state follows the last ')' (comm may hold anything).
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			continue
		}
		if s := stat[i+2]; s != 'T' && s != 't' {
			return false
		}
	}
	return true
}
