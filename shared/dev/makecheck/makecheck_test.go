// Package makecheck runs the Makefile's own guards: make help, make build-X
// without ARTIFACTS_DIR, and the notice for a missing emulator.
package makecheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/acme/provider-credentials/shared/dev/awstest"
)

// runMake runs make in the repo root with env (KEY=VALUE) on top of the
// process environment minus ARTIFACTS_DIR, CI and MAKEFLAGS.
func runMake(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = awstest.RepoRoot()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "ARTIFACTS_DIR" && k != "CI" && k != "MAKEFLAGS" && k != "MAKELEVEL" && k != "MFLAGS" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// make help lists every target the Makefile documents with "## name:".
func TestHelpListsEveryDocumentedTarget(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(awstest.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	documented := regexp.MustCompile(`(?m)^## ([a-z%-]+):`).FindAllStringSubmatch(string(mk), -1)
	if len(documented) < 5 {
		t.Fatalf("Makefile documents %d targets with ## comments, want the usual ones", len(documented))
	}
	out, err := runMake(t, nil, "help")
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, m := range documented {
		if !regexp.MustCompile(`(?m)^  make ` + regexp.QuoteMeta(m[1]) + ` `).MatchString(out) {
			t.Errorf("make help does not list %q:\n%s", m[1], out)
		}
	}
}

// make build-X without ARTIFACTS_DIR refuses (it used to write /bootstrap
// at the filesystem root) and builds nothing; with it, it builds X there.
func TestBuildNeedsArtifactsDir(t *testing.T) {
	out, err := runMake(t, nil, "build-GetCredentialFunction")
	if err == nil {
		t.Fatalf("make build-GetCredentialFunction without ARTIFACTS_DIR succeeded:\n%s", out)
	}
	if !strings.Contains(out, "ARTIFACTS_DIR is not set") || strings.Contains(out, "go build") {
		t.Errorf("output = %q, want the ARTIFACTS_DIR refusal before any build", out)
	}

	if testing.Short() {
		t.Skip("-short: skipping the cross-compiled build")
	}
	dir := t.TempDir()
	out, err = runMake(t, []string{"ARTIFACTS_DIR=" + dir}, "build-GetCredentialFunction")
	if err != nil {
		t.Fatalf("make build-GetCredentialFunction ARTIFACTS_DIR=%s: %v\n%s", dir, err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bootstrap")); err != nil || fi.Size() == 0 {
		t.Errorf("ARTIFACTS_DIR/bootstrap: %v, want the built function", err)
	}
}

// Without the emulator, make test's check says plainly which tests skip and
// how to install it, and passes; under CI=true it fails.
func TestMissingEmulatorNotice(t *testing.T) {
	missing := "MOTO_SERVER=no-such-moto-server-for-test"
	out, err := runMake(t, []string{missing}, "emulator-check")
	if err != nil {
		t.Fatalf("make emulator-check without the emulator: %v\n%s", err, out)
	}
	for _, want := range []string{"SKIPPED", "./shared/dev/localapi", "pip install 'moto[server]"} {
		if !strings.Contains(out, want) {
			t.Errorf("notice lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "NOTICE") != 1 {
		t.Errorf("notice printed %d times, want once:\n%s", strings.Count(out, "NOTICE"), out)
	}
	if out, err := runMake(t, []string{missing, "CI=true"}, "emulator-check"); err == nil {
		t.Errorf("make emulator-check under CI=true without the emulator passed:\n%s", out)
	}
	if _, err := exec.LookPath("moto_server"); err == nil {
		if out, err := runMake(t, nil, "emulator-check"); err != nil || out != "" {
			t.Errorf("make emulator-check with moto_server installed: %v, output %q; want silence", err, out)
		}
	}
}
