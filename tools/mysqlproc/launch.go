package mysqlproc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // driver for the readiness ping
)

// ErrPortInUse is returned (wrapped) when the server could not bind its port.
var ErrPortInUse = errors.New("port already in use")

// pollInterval is how often launch checks whether the server accepts
// connections.
const pollInterval = 25 * time.Millisecond

// launch runs the server binary on s's port and waits until root can
// connect, or the process dies, or ctx ends.
func (s *Server) launch(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return fmt.Errorf("server on %s is already running", s.Addr)
	}
	if err := os.MkdirAll(filepath.Dir(s.logPath), 0o755); err != nil {
		return fmt.Errorf("create log dir: %w", err)
	}
	if err := os.MkdirAll(privateTmpDir(s.dataDir), 0o755); err != nil {
		return fmt.Errorf("create tmp dir: %w", err)
	}
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	logStart, _ := logFile.Seek(0, io.SeekEnd)

	pidFile := filepath.Join(s.dataDir, "mysqld.pid")
	args := append(serverArgs(s.info.flavor, s.dataDir, s.socket, pidFile, s.logPath, s.port), s.tls.args()...)
	cmd := exec.Command(s.info.path, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.info.path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	if err := s.waitReady(ctx, p, logStart); err != nil {
		if !p.exited() {
			_ = kill(cmd.Process)
			<-p.done
		}
		return err
	}
	s.proc = p
	return nil
}

// waitReady polls until root can ping the server over TCP.
func (s *Server) waitReady(ctx context.Context, p *process, logStart int64) error {
	db, err := sql.Open("mysql", "root@tcp("+s.Addr+")/?timeout=1s"+s.tls.readinessParams())
	if err != nil {
		return fmt.Errorf("open readiness connection: %w", err)
	}
	defer db.Close()

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var pingErr error
	for {
		select {
		case <-p.done:
			log := s.logSince(logStart)
			if strings.Contains(log, "Address already in use") || strings.Contains(log, "Bind on TCP/IP port") {
				return fmt.Errorf("start server on %s: %w\n%s", s.Addr, ErrPortInUse, tail(log, 2000))
			}
			return fmt.Errorf("server on %s exited during startup: %v\n%s", s.Addr, p.err, tail(log, 4000))
		case <-ctx.Done():
			return fmt.Errorf("server on %s not ready (last ping: %v): %w\n%s",
				s.Addr, pingErr, ctx.Err(), tail(s.logSince(logStart), 4000))
		case <-tick.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		pingErr = db.PingContext(pingCtx)
		cancel()
		if pingErr == nil {
			return nil
		}
	}
}

// logSince returns what the server wrote to its log after offset.
func (s *Server) logSince(offset int64) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

// logTail returns the end of the server log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	return tail(string(b), 4000)
}
