// Package gotool finds the go command for local tools that build or test
// (bench, the RIE harness).
package gotool

import "os/exec"

// Path returns the go command on PATH (go test and go generate put the
// running toolchain's bin first), else "go" for exec to report. It replaces
// runtime.GOROOT, deprecated since Go 1.24: the root a binary was built
// with means nothing once it runs elsewhere.
func Path() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
