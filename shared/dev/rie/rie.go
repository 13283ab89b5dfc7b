// Package rie runs a function's real bootstrap under the AWS Lambda Runtime
// Interface Emulator, the component `sam local invoke` runs in its
// container: no Docker, no SAM CLI. It installs the emulator from the Go
// module proxy, builds the bootstraps as the Makefile's build-% target does
// (for the host's architecture), and invokes one event at a time.
package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/dev/gotool"
)

// Module and Version name the emulator build that is used. TOOLCHAIN.md
// lists its traps: one invoke at a time, one runtime API port per instance,
// function errors come back as HTTP 200.
const (
	Module  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
)

var installMu sync.Mutex

// Binary returns the path of the emulator: $AWS_LAMBDA_RIE when set, else
// the pinned version, installed with `go install` into the user cache
// folder the first time.
func Binary(ctx context.Context) (string, error) {
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "provider-credentials", "aws-lambda-rie@"+Version)
	bin := filepath.Join(dir, "aws-lambda-rie")
	installMu.Lock()
	defer installMu.Unlock()
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("rie: %w", err)
	}
	cmd := exec.CommandContext(ctx, goTool(), "install", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	cmd.Dir = dir // outside any module: go install pkg@version ignores it anyway
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("rie: go install %s@%s: %w\n%s", Module, Version, err, out)
	}
	return bin, nil
}

func goTool() string { return gotool.Path() }

// Build builds the bootstrap of each folder under functions/ (in one go
// build, so shared packages compile once) with the Makefile's flags, for
// GOOS=linux and the host's architecture, into outDir/<folder>/bootstrap.
// It returns folder → bootstrap path.
func Build(ctx context.Context, repoRoot, outDir string, dirs []string) (map[string]string, error) {
	if len(dirs) == 0 {
		return map[string]string{}, nil
	}
	tmp, err := os.MkdirTemp(outDir, "build-")
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", tmp + string(filepath.Separator)}
	for _, d := range dirs {
		args = append(args, "./functions/"+d)
	}
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rie: go build: %w\n%s", err, out)
	}
	bins := map[string]string{}
	for _, d := range dirs {
		dst := filepath.Join(outDir, d)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return nil, fmt.Errorf("rie: %w", err)
		}
		src := filepath.Join(tmp, filepath.Base(d)) // go build -o dir/ names each binary after its folder
		if err := os.Rename(src, filepath.Join(dst, "bootstrap")); err != nil {
			return nil, fmt.Errorf("rie: %w", err)
		}
		bins[d] = filepath.Join(dst, "bootstrap")
	}
	_ = os.RemoveAll(tmp)
	return bins, nil
}

// Instance is one running emulator with one function. Invoke serialises
// calls: the emulator crashes on concurrent invokes.
type Instance struct {
	URL    string // the invocation endpoint
	mu     sync.Mutex
	cmd    *exec.Cmd
	out    *Buffer
	exited <-chan struct{} // closed when the emulator's process has ended
}

// Start runs the emulator with bootstrap. env is the function's whole
// environment (the emulator passes its own environment through). A free
// port can be taken by another process (a test's server) before the
// emulator binds it; the emulator then exits at once, and Start tries
// again on other ports.
func Start(ctx context.Context, rieBin, bootstrap string, env []string) (*Instance, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var in *Instance
		if in, err = start(ctx, rieBin, bootstrap, env); err == nil || !errors.Is(err, errExited) {
			return in, err
		}
	}
	return nil, err
}

var errExited = errors.New("rie: emulator exited")

func start(ctx context.Context, rieBin, bootstrap string, env []string) (*Instance, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, fmt.Errorf("rie: free ports: %w", err)
	}
	api := "127.0.0.1:" + strconv.Itoa(ports[0])
	runtimeAPI := "127.0.0.1:" + strconv.Itoa(ports[1])
	cmd := exec.Command(rieBin, "--runtime-interface-emulator-address", api, "--runtime-api-address", runtimeAPI, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rie: start: %w", err)
	}
	in := &Instance{URL: "http://" + api + "/2015-03-31/functions/function/invocations", cmd: cmd, out: out}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	in.exited = exited
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", api, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			// Whoever answered, the emulator must still be running a
			// moment later: one that could not bind has exited.
			select {
			case <-exited:
				return nil, fmt.Errorf("%w (port %s taken?):\n%s", errExited, api, out.String())
			case <-time.After(50 * time.Millisecond):
				return in, nil
			}
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("%w before it listened on %s:\n%s", errExited, api, out.String())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			in.Stop()
			return nil, fmt.Errorf("rie: emulator did not listen on %s: %v\n%s", api, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Invoke sends one event and returns the function's response as the
// emulator gives it (a function error is a 200 with an error body: see
// ParseHTTPResponse).
func (in *Instance) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, bytes.NewReader(event))
	if err != nil {
		return nil, fmt.Errorf("rie: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("rie: invoke: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rie: invoke: emulator answered %d: %s", resp.StatusCode, b)
	}
	return b, nil
}

// Log returns what the emulator and the function printed so far.
func (in *Instance) Log() string { return in.out.String() }

// Stop ends the emulator and the function.
func (in *Instance) Stop() {
	if in == nil || in.cmd == nil || in.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
		<-in.exited
	}
}

// FunctionError is an error a function returned (or its runtime, when the
// event did not decode): the emulator's 200 with errorMessage/errorType.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

func (e *FunctionError) Error() string { return "function error " + e.Type + ": " + e.Message }

// AsFunctionError returns the function error in a response, if it is one.
func AsFunctionError(b []byte) (*FunctionError, bool) {
	var fe FunctionError
	if json.Unmarshal(b, &fe) != nil || (fe.Message == "" && fe.Type == "") {
		return nil, false
	}
	return &fe, true
}

// ParseHTTPResponse reads an HTTP API (payload 2.0) function's response.
func ParseHTTPResponse(b []byte) (events.APIGatewayV2HTTPResponse, error) {
	if fe, ok := AsFunctionError(b); ok {
		return events.APIGatewayV2HTTPResponse{}, fe
	}
	var r events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("rie: response is not a payload 2.0 response: %w", err)
	}
	if r.StatusCode == 0 {
		return r, errors.New("rie: response has no statusCode")
	}
	return r, nil
}

// Env returns the environment for a function: the variables of base (for
// example the template's, resolved) over a minimal host environment, so
// that nothing else of the host leaks in but PATH, HOME and the TMPDIR.
func Env(vars map[string]string) []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Buffer collects a process's output; it is safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Clone(s.b.String())
}
