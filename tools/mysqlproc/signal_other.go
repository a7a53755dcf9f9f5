//go:build !unix

package mysqlproc

import (
	"errors"
	"os"
	"syscall"
)

// sysProcAttr has nothing to add on platforms without process groups.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// terminate stops the server; without signals it cannot be asked politely.
func terminate(p *os.Process) error { return p.Kill() }

// kill stops the server at once.
func kill(p *os.Process) error { return p.Kill() }

// freeze is not possible without signals.
func freeze(*os.Process) error { return errors.New("mysqlproc: Freeze needs Unix signals") }

// thaw is not possible without signals.
func thaw(*os.Process) error { return errors.New("mysqlproc: Thaw needs Unix signals") }
