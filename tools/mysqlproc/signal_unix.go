//go:build unix

package mysqlproc

import (
	"os"
	"syscall"
	"time"
)

// terminate asks the server to shut down cleanly.
func terminate(p *os.Process) error {
	return signalGroup(p, syscall.SIGTERM)
}

// kill stops the server at once, as a crash would.
func kill(p *os.Process) error {
	return signalGroup(p, syscall.SIGKILL)
}

// freeze suspends the server (SIGSTOP): it keeps its sockets but answers nothing. It returns
// once every thread of the server has stopped (see awaitStopped).
func freeze(p *os.Process) error {
	if err := signalGroup(p, syscall.SIGSTOP); err != nil {
		return err
	}
	awaitStopped(p.Pid, 5*time.Second)
	return nil
}

// thaw resumes a frozen server (SIGCONT).
func thaw(p *os.Process) error {
	return signalGroup(p, syscall.SIGCONT)
}

// signalGroup signals the server's process group, falling back to the
// process alone when the group is gone.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pid, sig); err == nil {
		return nil
	}
	return p.Signal(sig)
}
