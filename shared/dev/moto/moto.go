// Package moto starts and stops a local moto server, the AWS emulator that
// make run, make invoke, make bench and the integration tests use.
//
// It runs single-threaded: stock moto_server serves each request on its own
// thread, and moto's transactions are not safe under that (they resurrect
// each other's rolled-back items and lose committed ones; figures in
// ../shared/TOOLCHAIN.md). One request at a time it is as atomic as
// DynamoDB, and no slower. So it is started over moto's own WSGI app with
// werkzeug's run_simple(threaded=False), with the Python that has moto.
package moto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// ErrNotInstalled says moto_server is not on PATH.
var ErrNotInstalled = errors.New(`moto_server is not installed: install it with pip install "moto[server]"`)

// Server is a running moto_server.
type Server struct {
	URL    string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	exited <-chan struct{} // closed when the process has ended
}

// serverScript serves moto's app one request at a time on 127.0.0.1:argv[1].
const serverScript = `import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False, processes=1)
`

// Start runs a single-threaded moto server on a free loopback port and
// waits until it answers. It needs moto_server on PATH (the sign that moto
// is installed) and a python3 that imports moto.
func Start(ctx context.Context) (*Server, error) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return nil, ErrNotInstalled
	}
	bin, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("moto: python3 not found: %w", ErrNotInstalled)
	}
	// A free port can be taken by another process before moto binds it:
	// moto then exits, and it is started again on another.
	for attempt := 0; ; attempt++ {
		s, err := start(ctx, bin)
		if err == nil || !errors.Is(err, errExited) || attempt == 2 {
			return s, err
		}
	}
}

var errExited = errors.New("moto: the emulator exited")

func start(ctx context.Context, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("moto: find a free port: %w", err)
	}
	cmd := exec.Command(bin, "-c", serverScript, strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if os.Getenv("MOTO_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("moto: start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: exited}
	if err := s.wait(ctx, 30*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) wait(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/data.json", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK { // moto's own API, not whoever holds the port
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w before it answered on %s", errExited, s.URL)
		case <-ctx.Done():
			return fmt.Errorf("moto: %s did not answer within %s", s.URL, limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the server and its children.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
