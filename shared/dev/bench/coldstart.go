package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/acme/provider-credentials/shared/dev/rie"
)

// ColdStart is one fresh start of a function under the Lambda Runtime
// Interface Emulator.
type ColdStart struct {
	FirstResponse time.Duration // from starting the emulator (which execs bootstrap) to the first response
	InitReport    time.Duration // the emulator's INIT REPORT durationMs; 0 if absent
	PeakRSS       int64         // bytes: VmHWM of the bootstrap process after the first response
	Response      []byte        // the function's response
}

// StartCold starts the emulator with bootstrap and env (its whole
// environment), sends event once, measures, and stops both.
//
// shared/rie starts the emulator too, but polls for its port every 10 ms
// (too coarse for a 25 ms figure) and keeps the process to itself (the peak
// RSS needs the bootstrap's pid), so this is the minimum of it done here:
// poll every 0.5 ms, then find the bootstrap among the emulator's children.
func StartCold(ctx context.Context, rieBin, bootstrap string, env []string, event []byte) (ColdStart, error) {
	var cs ColdStart
	ports, err := rie.FreePorts(2)
	if err != nil {
		return cs, err
	}
	api := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(rieBin, "--runtime-interface-emulator-address", api,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(ports[1]), bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &rie.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + api + "/2015-03-31/functions/function/invocations"

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return cs, fmt.Errorf("bench: start emulator: %w", err)
	}
	defer stop(cmd)
	for {
		c, err := net.DialTimeout("tcp", api, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Since(start) > 10*time.Second || ctx.Err() != nil {
			return cs, fmt.Errorf("bench: emulator did not listen: %v\n%s", err, out.String())
		}
		time.Sleep(500 * time.Microsecond)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
	resp, err := client.Do(req)
	if err != nil {
		return cs, fmt.Errorf("bench: invoke: %w\n%s", err, out.String())
	}
	cs.Response, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	cs.FirstResponse = time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		return cs, fmt.Errorf("bench: invoke: %d %v: %s\n%s", resp.StatusCode, err, cs.Response, out.String())
	}
	pid := childOf(cmd.Process.Pid, bootstrap)
	if pid == 0 {
		return cs, fmt.Errorf("bench: no bootstrap process under the emulator (pid %d)", cmd.Process.Pid)
	}
	if cs.PeakRSS, err = vmHWM(pid); err != nil {
		return cs, err
	}
	// The emulator logs INIT REPORT just before the invoke; give it a moment.
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if m := initReport.FindStringSubmatch(out.String()); m != nil {
			ms, _ := strconv.ParseFloat(m[1], 64)
			cs.InitReport = time.Duration(ms * float64(time.Millisecond))
			break
		}
	}
	return cs, nil
}

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

func stop(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
}

// childOf returns the pid of the child of parent running exe, or 0.
func childOf(parent int, exe string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		if link, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && link == exe {
			return pid
		}
	}
	return 0
}

// vmHWM reads a process's peak resident set size.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: VmHWM %q: %w", v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("bench: no VmHWM for pid %d", pid)
}
