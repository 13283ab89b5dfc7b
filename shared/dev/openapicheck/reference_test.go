package openapicheck_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/acme/provider-credentials/shared/dev/awstest"
)

var (
	// | `GET /provider-credentials` | member | 200, ... | 401, 403 |
	refRoute = regexp.MustCompile("^\\| `([A-Z]+) (/[^`]*)` \\| (member|admin) \\| ([0-9]{3})\\b[^|]* \\| ([0-9, ]+) \\|$")
	// <!-- schema: Credential --> before a field table
	refSchema = regexp.MustCompile(`^<!-- schema: (\w+) -->$`)
	refField  = regexp.MustCompile("^\\| `([a-z_]+)` \\|")
	refStatus = regexp.MustCompile(`^\| ([0-9]{3}) \|`)
)

// The reference a clone carries (docs/API.md) and openapi.yaml describe the
// same contract: the same routes with the same statuses, the same fields of
// every resource and request body, the same error statuses.
func TestAPIReferenceMatchesOpenAPI(t *testing.T) {
	doc := loadDoc(t)
	b, err := os.ReadFile(filepath.Join(awstest.RepoRoot(), "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")

	var routes []string
	fields := map[string][]string{} // schema → fields in the reference
	var errorStatuses []int
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := refRoute.FindStringSubmatch(line); m != nil {
			route := m[1] + " " + m[2]
			routes = append(routes, route)
			want := []int{atoi(t, m[4])}
			for _, s := range strings.Split(m[5], ",") {
				want = append(want, atoi(t, strings.TrimSpace(s)))
			}
			slices.Sort(want)
			if got := doc.Statuses(m[1], m[2]); !slices.Equal(got, want) {
				t.Errorf("%s: docs/API.md lists statuses %v, openapi.yaml %v", route, want, got)
			}
			continue
		}
		if m := refSchema.FindStringSubmatch(line); m != nil {
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
				if f := refField.FindStringSubmatch(lines[i]); f != nil {
					fields[m[1]] = append(fields[m[1]], f[1])
				}
			}
			continue
		}
		if line == "<!-- statuses -->" {
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
				if s := refStatus.FindStringSubmatch(lines[i]); s != nil {
					errorStatuses = append(errorStatuses, atoi(t, s[1]))
				}
			}
		}
	}

	slices.Sort(routes)
	if got := doc.Routes(); !slices.Equal(routes, got) {
		t.Errorf("docs/API.md routes %v, openapi.yaml routes %v", routes, got)
	}

	for _, name := range []string{"Credential", "Usage", "Window", "RequestWindow", "CredentialCreate", "CredentialUpdate", "CredentialTest"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("docs/API.md has no field table for %s", name)
		}
	}
	for name, ref := range fields {
		s := doc.T.Components.Schemas[name]
		if s == nil || s.Value == nil {
			t.Errorf("docs/API.md documents %s, which openapi.yaml has no schema of", name)
			continue
		}
		slices.Sort(ref)
		if got := slices.Sorted(maps.Keys(s.Value.Properties)); !slices.Equal(ref, got) {
			t.Errorf("%s: docs/API.md fields %v, openapi.yaml properties %v", name, ref, got)
		}
	}

	var documented []int // every 4xx status of any operation of openapi.yaml
	for _, r := range doc.Routes() {
		method, path, _ := strings.Cut(r, " ")
		for _, s := range doc.Statuses(method, path) {
			if s >= 400 && !slices.Contains(documented, s) {
				documented = append(documented, s)
			}
		}
	}
	slices.Sort(documented)
	slices.Sort(errorStatuses)
	if !slices.Equal(errorStatuses, documented) {
		t.Errorf("docs/API.md error statuses %v, openapi.yaml's %v", errorStatuses, documented)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("status %q: %v", s, err)
	}
	return n
}
