package devcluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// describeListener names the process listening on 127.0.0.1:port (or any
// address) by reading /proc; it returns "" when it cannot tell.
func describeListener(port int) string {
	inode := listeningInode("/proc/net/tcp", port)
	if inode == "" {
		inode = listeningInode("/proc/net/tcp6", port)
	}
	if inode == "" {
		return ""
	}
	target := "socket:[" + inode + "]"
	fdDirs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, fdDir := range fdDirs {
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && link == target {
				procDir := filepath.Dir(fdDir)
				comm, _ := os.ReadFile(filepath.Join(procDir, "comm"))
				return fmt.Sprintf("process %s (%s)", filepath.Base(procDir), strings.TrimSpace(string(comm)))
			}
		}
	}
	return ""
}

// listeningInode finds the socket inode of a listener on port in a
// /proc/net/tcp-style table.
func listeningInode(table string, port int) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer f.Close()
	hexPort := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(fields) < 10 || fields[3] != "0A" || !strings.HasSuffix(fields[1], hexPort) {
			continue
		}
		if _, err := strconv.Atoi(fields[9]); err == nil {
			return fields[9]
		}
	}
	return ""
}
