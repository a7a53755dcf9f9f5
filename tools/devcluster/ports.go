package devcluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// allocatePorts reserves n distinct free loopback ports, holding every
// listener open until all are chosen so none is handed out twice.
func allocatePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// checkPortFree returns a descriptive error when something already listens
// on a port the cluster remembers.
func checkPortFree(dir string, srv serverState) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(srv.Port))
	if err == nil {
		l.Close()
		return nil
	}
	who := "another process"
	if pid, ok := runningPID(filepath.Join(dir, srv.Name, "mysqld.pid")); ok {
		who = fmt.Sprintf("process %d, which is this cluster's own %s server (is another `shardstock dev` still running on %s?)", pid, srv.Name, dir)
	} else if desc := describeListener(srv.Port); desc != "" {
		who = desc
	}
	return fmt.Errorf("%s port 127.0.0.1:%d (remembered in %s) is in use by %s; stop it, or start with --fresh to pick new ports: %w",
		srv.Name, srv.Port, filepath.Join(dir, stateFile), who, ErrPortBusy)
}

// runningPID reads a pid file and reports whether that process is alive.
func runningPID(pidFile string) (int, bool) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return 0, false
	}
	return pid, p.Signal(syscall.Signal(0)) == nil
}
