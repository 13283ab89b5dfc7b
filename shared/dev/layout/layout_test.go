// Package layout holds the line between what ships and what does not:
// shared/ directly holds only packages a Lambda runs; everything local
// (emulators, local API, token issuer, template reader, test support)
// lives under shared/dev/, and no function links any of it.
package layout

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/acme/provider-credentials/shared/dev/awstest"
)

// forbidden are import paths (prefixes) no Lambda binary may depend on.
var forbidden = []string{
	"github.com/acme/provider-credentials/shared/dev/",
	"github.com/acme/provider-credentials/cmd/",
	"gopkg.in/yaml.v3",
	"go.yaml.in/yaml",
	"github.com/getkin/kin-openapi",
	"github.com/awslabs/goformation",
}

func TestFunctionsLinkNoLocalTooling(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}{{end}}`, "./functions/...")
	cmd.Dir = awstest.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./functions/...: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps found %d packages; the functions cannot have been listed", len(deps))
	}
	for _, dep := range deps {
		for _, bad := range forbidden {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("a function depends on %s (matches %q): local tooling must stay out of the Lambda binaries", dep, bad)
			}
		}
	}
}

func TestSharedHoldsOnlyWhatShips(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}`, "./shared/...")
	cmd.Dir = awstest.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./shared/...: %v", err)
	}
	shipped := map[string]bool{}
	fcmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}`, "./functions/...")
	fcmd.Dir = awstest.RepoRoot()
	fout, err := fcmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./functions/...: %v", err)
	}
	for _, p := range strings.Fields(string(fout)) {
		shipped[p] = true
	}
	const prefix = "github.com/acme/provider-credentials/shared/"
	for _, p := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(p, prefix)
		if strings.HasPrefix(rel, "dev/") || rel == "dev" {
			continue
		}
		if !shipped[p] {
			t.Errorf("shared/%s is linked by no function: move it under shared/dev/", rel)
		}
	}
}

// TestConsumersOwnTheirPorts: the packages that use stores declare the
// ports they need; the adapters implement them, so no consumer depends on
// an adapter (the adapters import the consumers, not the reverse).
func TestConsumersOwnTheirPorts(t *testing.T) {
	const mod = "github.com/acme/provider-credentials/shared/"
	consumers := []string{"credentials", "liveusage", "refresh"}
	adapters := []string{"dynamo", "secrets"}
	for _, c := range consumers {
		cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}`, "./shared/"+c)
		cmd.Dir = awstest.RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./shared/%s: %v", c, err)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, mod+c) {
			t.Fatalf("go list -deps ./shared/%s does not list the package itself: %q", c, deps)
		}
		for _, a := range adapters {
			if slices.Contains(deps, mod+a) {
				t.Errorf("shared/%s depends on the adapter shared/%s: declare the port in %s and implement it in %s", c, a, c, a)
			}
		}
	}
}
