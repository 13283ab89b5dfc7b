package gotool

import (
	"os/exec"
	"strings"
	"testing"
)

func TestPathRunsGo(t *testing.T) {
	out, err := exec.Command(Path(), "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", Path(), err)
	}
	if !strings.HasPrefix(string(out), "go version go") {
		t.Errorf("%s version = %q, want a go version line", Path(), out)
	}
}
