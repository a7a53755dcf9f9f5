//go:build !unix

package mysqlproc

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to add on platforms without process groups.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// terminate stops the server; without signals it cannot be asked politely.
func terminate(p *os.Process) error { return p.Kill() }

// kill stops the server at once.
func kill(p *os.Process) error { return p.Kill() }
