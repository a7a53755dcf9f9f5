package mysqlproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Options configures Start.
type Options struct {
	// DataDir is the server's data directory. It is created if missing and
	// initialised from the cached template if empty; an existing initialised
	// directory is used as it is.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Binary is the server binary; "" uses FindBinary.
	Binary string
	// LogPath is the server's error log; "" puts <DataDir>.log next to the
	// data directory.
	LogPath string
	// CacheDir holds the initialised template data directories; "" uses
	// os.UserCacheDir()/shardstock.
	CacheDir string
	// TLS, when set, gives the server a certificate (see TLSFiles).
	TLS *TLSFiles
}

// Timeouts used by Start and Stop.
const (
	// DefaultStartTimeout bounds Start and Restart when ctx has no deadline.
	DefaultStartTimeout = 60 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout = 20 * time.Second
)

// startAttempts is how many ports Start tries when it picks them itself.
const startAttempts = 5

// Server is a running (or stopped) server process owned by this process.
type Server struct {
	// Addr is the TCP address, 127.0.0.1:port.
	Addr string

	port    int
	info    binaryInfo
	dataDir string
	logPath string
	socket  string
	sockDir string // temporary socket directory, "" when the socket is in dataDir
	tls     *TLSFiles

	mu     sync.Mutex
	proc   *process // nil when stopped
	frozen bool     // suspended by Freeze
}

// process is one run of the server binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // result of Wait, valid after done is closed
}

// Start prepares the data directory, starts a server and waits until root
// can connect over TCP. The wait is bounded by ctx, or by
// DefaultStartTimeout when ctx has no deadline.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("mysqlproc: Options.DataDir is required")
	}
	tlsFiles, err := opts.TLS.absolute()
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	binary := opts.Binary
	if binary == "" {
		var err error
		if binary, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	info, err := inspectBinary(ctx, binary)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir path: %w", err)
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = defaultCacheDir()
	}
	if err := prepareDataDir(ctx, info, dataDir, cacheDir); err != nil {
		return nil, err
	}
	logPath := opts.LogPath
	if logPath == "" {
		logPath = dataDir + ".log"
	}
	socket, sockDir, err := socketPath(dataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{info: info, dataDir: dataDir, logPath: logPath, socket: socket, sockDir: sockDir, tls: tlsFiles}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = FreePort(); err != nil {
				s.removeSockDir()
				return nil, err
			}
		}
		s.setPort(port)
		err = s.launch(ctx)
		if err == nil {
			return s, nil
		}
		if opts.Port != 0 || !errors.Is(err, ErrPortInUse) || attempt == startAttempts {
			s.removeSockDir()
			return nil, err
		}
	}
}

// DSN returns a go-sql-driver/mysql DSN for root on the given database
// ("" for none), with parseTime=true.
func (s *Server) DSN(database string) string {
	return fmt.Sprintf("root@tcp(%s)/%s?parseTime=true", s.Addr, database)
}

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// DataDir returns the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// LogPath returns the server's error log.
func (s *Server) LogPath() string { return s.logPath }

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// Stop shuts the server down with SIGTERM, waits up to StopTimeout and then
// kills it. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.thawLocked()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	defer s.removeSockDir()
	if p.exited() {
		return p.unexpectedExit(s)
	}
	if err := terminate(p.cmd.Process); err != nil && !p.exited() {
		_ = kill(p.cmd.Process)
		<-p.done
		return fmt.Errorf("signal server on %s: %w", s.Addr, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("server on %s: %w\n%s", s.Addr, p.err, s.logTail())
		}
		return nil
	case <-time.After(StopTimeout):
		_ = kill(p.cmd.Process)
		<-p.done
		return fmt.Errorf("server on %s did not stop within %s and was killed", s.Addr, StopTimeout)
	}
}

// Freeze suspends the server process (SIGSTOP), as a hung server or host: the kernel still
// accepts TCP connections and keeps the open ones, but nothing is answered until Thaw. Stop,
// Kill and Restart thaw a frozen server first.
func (s *Server) Freeze() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.proc.exited() {
		return fmt.Errorf("freeze server on %s: not running", s.Addr)
	}
	if err := freeze(s.proc.cmd.Process); err != nil {
		return fmt.Errorf("freeze server on %s: %w", s.Addr, err)
	}
	s.frozen = true
	return nil
}

// Thaw resumes a server suspended by Freeze (nothing to do otherwise).
func (s *Server) Thaw() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.thawLocked()
}

func (s *Server) thawLocked() error {
	if !s.frozen || s.proc == nil {
		s.frozen = false
		return nil
	}
	if err := thaw(s.proc.cmd.Process); err != nil && !s.proc.exited() {
		return fmt.Errorf("thaw server on %s: %w", s.Addr, err)
	}
	s.frozen = false
	return nil
}

// Kill stops the server with SIGKILL, as a crash would, and reaps it.
// Killing a stopped server does nothing.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.thawLocked()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	if !p.exited() {
		if err := kill(p.cmd.Process); err != nil && !p.exited() {
			return fmt.Errorf("kill server on %s: %w", s.Addr, err)
		}
	}
	<-p.done
	return nil
}

// Restart starts the server again on the same port and data directory,
// stopping it first if it is still running. Stop always leaves the process
// dead, so its error (say, the server had crashed on its own) is not a
// reason to give up and is ignored.
func (s *Server) Restart(ctx context.Context) error {
	_ = s.Stop()
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if s.sockDir != "" {
		if err := os.MkdirAll(s.sockDir, 0o700); err != nil {
			return fmt.Errorf("restart: create socket dir: %w", err)
		}
	}
	return s.launch(ctx)
}

func (s *Server) setPort(port int) {
	s.port = port
	s.Addr = "127.0.0.1:" + strconv.Itoa(port)
}

// removeSockDir removes the temporary socket directory, if any.
func (s *Server) removeSockDir() {
	if s.sockDir != "" {
		_ = os.RemoveAll(s.sockDir)
	}
}

// exited reports whether the process has been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// unexpectedExit describes a process that ended without being asked to.
func (p *process) unexpectedExit(s *Server) error {
	return fmt.Errorf("server on %s exited on its own: %v\n%s", s.Addr, p.err, s.logTail())
}

// withDefaultTimeout applies DefaultStartTimeout when ctx has no deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultStartTimeout)
}
