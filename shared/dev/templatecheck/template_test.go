package templatecheck_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/localaws"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/httpapi"
)

// specRoutes are SPEC.md's routes, plus the ones issues added since
// (issue 14: rollback): the one place they are written down. template.yaml
// must deploy exactly these (TestRoutes); every other check (openapicheck)
// reads its route list from template.yaml.
var specRoutes = []string{
	httpapi.RouteList, httpapi.RouteCreate, httpapi.RouteTest, httpapi.RouteGet,
	httpapi.RouteUpdate, httpapi.RouteUsage, httpapi.RouteDelete,
	httpapi.RouteRollback,
}

func load(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := awstest.Template()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// Every SPEC route is exactly one HttpApi event, of a function whose folder
// has a main.go; no other route exists.
func TestRoutes(t *testing.T) {
	tpl := load(t)
	seen := map[string][]string{}
	for _, fn := range tpl.Functions() {
		for _, ev := range fn.Events {
			switch ev.Type {
			case "HttpApi":
				seen[ev.Method+" "+ev.Path] = append(seen[ev.Method+" "+ev.Path], fn.LogicalID)
			case "Api":
				t.Errorf("%s: event %s is a REST API (Api) event; want HttpApi", fn.LogicalID, ev.Name)
			}
		}
	}
	for _, r := range specRoutes {
		if got := seen[r]; len(got) != 1 {
			t.Errorf("route %s: HttpApi events on %v, want exactly one", r, got)
		}
	}
	for r, fns := range seen {
		if !slices.Contains(specRoutes, r) {
			t.Errorf("route %s of %v is not in SPEC", r, fns)
		}
	}
	if got, want := tpl.HTTPRoutes(), slices.Sorted(slices.Values(specRoutes)); !slices.Equal(got, want) {
		t.Errorf("Template.HTTPRoutes() = %v, want SPEC's %v", got, want)
	}
}

// Every function is a provided.al2023 bootstrap built by the Makefile from
// functions/<folder>/main.go.
func TestFunctionsBuildFromTheirFolders(t *testing.T) {
	tpl := load(t)
	root := awstest.RepoRoot()
	for _, fn := range tpl.Functions() {
		dir := localapi.FunctionDir(fn.LogicalID)
		if _, err := os.Stat(filepath.Join(root, "functions", dir, "main.go")); err != nil {
			t.Errorf("%s: functions/%s/main.go: %v; want the function's composition root there", fn.LogicalID, dir, err)
		}
		if fn.Runtime != "provided.al2023" || fn.Handler != "bootstrap" || fn.BuildMethod != "makefile" {
			t.Errorf("%s: runtime %q, handler %q, build method %q; want provided.al2023, bootstrap, makefile",
				fn.LogicalID, fn.Runtime, fn.Handler, fn.BuildMethod)
		}
		if fn.CodeURI != "." {
			t.Errorf("%s: CodeUri %q, want . (the Makefile builds from the module root)", fn.LogicalID, fn.CodeURI)
		}
	}
}

// No route is public: the HTTP API's default authorizer is a JWT
// authorizer on the Authorization header, every HttpApi event is on that
// API, and none turns it off or picks another.
func TestEveryRouteHasTheJWTAuthorizer(t *testing.T) {
	tpl := load(t)
	apis := tpl.ResourcesOfType("AWS::Serverless::HttpApi")
	if len(apis) == 0 {
		t.Fatal("template.yaml has no AWS::Serverless::HttpApi; want one with the JWT authorizer")
	}
	jwtDefault := map[string]string{} // API → its default JWT authorizer
	for _, id := range apis {
		auth, _ := tpl.Resources[id].Properties["Auth"].(map[string]any)
		def, _ := auth["DefaultAuthorizer"].(string)
		authorizers, _ := auth["Authorizers"].(map[string]any)
		a, _ := authorizers[def].(map[string]any)
		jwt, _ := a["JwtConfiguration"].(map[string]any)
		if def == "" || a == nil {
			t.Errorf("%s: DefaultAuthorizer %q is not one of its Authorizers; want the JWT authorizer as default", id, def)
			continue
		}
		if jwt["issuer"] == nil || jwt["audience"] == nil {
			t.Errorf("%s: authorizer %s: JwtConfiguration %v, want issuer and audience", id, def, jwt)
		}
		if src := a["IdentitySource"]; src != "$request.header.Authorization" {
			t.Errorf("%s: authorizer %s: IdentitySource %v, want $request.header.Authorization", id, def, src)
		}
		jwtDefault[id] = def
	}
	for _, fn := range tpl.Functions() {
		for _, ev := range fn.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			ref, ok := ev.Properties["ApiId"].(samtemplate.Intrinsic)
			api, _ := ref.Args.(string)
			if !ok || ref.Fn != "Ref" || jwtDefault[api] == "" {
				t.Errorf("%s %s: ApiId %v; want !Ref to the HTTP API with the JWT authorizer (the implicit API has none)", fn.LogicalID, ev.Name, ev.Properties["ApiId"])
				continue
			}
			if auth, ok := ev.Properties["Auth"].(map[string]any); ok {
				if a := auth["Authorizer"]; a != nil && a != jwtDefault[api] {
					t.Errorf("%s %s: Auth.Authorizer %v; want none or %s (no public route)", fn.LogicalID, ev.Name, a, jwtDefault[api])
				}
			}
		}
	}
}

// The usage cache table has TTL on expires_at (DESIGN.md).
func TestUsageTableTTL(t *testing.T) {
	tpl := load(t)
	r, ok := tpl.Resources["UsageTable"]
	if !ok {
		t.Fatal("template.yaml has no UsageTable")
	}
	ttl, _ := r.Properties["TimeToLiveSpecification"].(map[string]any)
	if ttl["Enabled"] != true || ttl["AttributeName"] != "expires_at" {
		t.Errorf("UsageTable TimeToLiveSpecification = %v, want Enabled true on expires_at", ttl)
	}
}

var scheduleExpr = regexp.MustCompile(`^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$`)

// The refresh function runs on a schedule, enabled by default.
func TestRefreshSchedule(t *testing.T) {
	tpl := load(t)
	fn, ok := tpl.Function("RefreshUsageFunction")
	if !ok {
		t.Fatal("template.yaml has no RefreshUsageFunction")
	}
	refs := tpl.ParameterValues(nil)
	enabled := 0
	for _, ev := range fn.Events {
		if ev.Type != "Schedule" && ev.Type != "ScheduleV2" {
			t.Errorf("RefreshUsageFunction %s: type %s, want only schedules", ev.Name, ev.Type)
			continue
		}
		expr, err := samtemplate.ResolveString(ev.Schedule, refs)
		if err != nil || !scheduleExpr.MatchString(expr) {
			t.Errorf("RefreshUsageFunction %s: schedule %v = %q (%v), want rate(...) or cron(...)", ev.Name, ev.Schedule, expr, err)
		}
		state := ev.Properties["State"]
		if en, ok := ev.Properties["Enabled"].(bool); ok && !en {
			state = "DISABLED"
		}
		if state == nil || state == "ENABLED" {
			enabled++
		}
	}
	if enabled == 0 {
		t.Errorf("RefreshUsageFunction: %d schedules enabled unconditionally, want at least one", enabled)
	}
}

// cfn-lint, with the real SAM translator and its informational checks
// (I3011: explicit DeletionPolicy on stateful resources), reports nothing.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cfn-lint not found: %v; want it installed (pip install cfn-lint)", err)
		}
		t.Skip("cfn-lint is not installed (pip install cfn-lint); skipping")
	}
	cmd := exec.Command(bin, "template.yaml", "--include-checks", "I")
	cmd.Dir = awstest.RepoRoot()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("cfn-lint: %v", err)
	}
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("cfn-lint template.yaml --include-checks I: %v, output:\n%s\nwant no findings", err, out)
	}
}

// events/env.local.json is what `sam local invoke --env-vars` reads. SAM CLI
// overrides only variables the template declares and ignores the rest
// without a word, so every name in it must be declared by each function it
// applies to ("Parameters": all of them). It points the functions at a
// loopback emulator and at the tables `make run` creates; the endpoint
// variable is declared empty, so nothing sets it in AWS.
func TestLocalEnvVarsFile(t *testing.T) {
	tpl := load(t)
	b, err := os.ReadFile(filepath.Join(awstest.RepoRoot(), "events", "env.local.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatalf("events/env.local.json: %v", err)
	}
	for key, vars := range file {
		targets := tpl.Functions()
		if key != "Parameters" {
			fn, ok := tpl.Function(key)
			if !ok {
				t.Errorf("events/env.local.json: %q is neither Parameters nor a function of template.yaml", key)
				continue
			}
			targets = []samtemplate.Function{fn}
		}
		for name := range vars {
			for _, fn := range targets {
				if _, ok := fn.Environment[name]; !ok {
					t.Errorf("events/env.local.json %s.%s: %s does not declare it (in Globals or its own Environment), so SAM CLI would ignore it",
						key, name, fn.LogicalID)
				}
			}
		}
	}
	p := file["Parameters"]
	if ep := p["LOCAL_AWS_ENDPOINT_URL"]; !localaws.IsLoopback(ep) {
		t.Errorf("Parameters.LOCAL_AWS_ENDPOINT_URL = %q, want a loopback emulator endpoint", ep)
	}
	for logical, env := range map[string]string{"CredentialsTable": "CREDENTIALS_TABLE", "UsageTable": "USAGE_TABLE"} {
		if got, want := p[env], localapi.DefaultTableName(logical); got != want {
			t.Errorf("Parameters.%s = %q, want %q (the table make run creates)", env, got, want)
		}
	}
	vars, _ := tpl.Globals.Function["Environment"].(map[string]any)["Variables"].(map[string]any)
	if v, ok := vars["LOCAL_AWS_ENDPOINT_URL"]; !ok || v != "" {
		t.Errorf("Globals LOCAL_AWS_ENDPOINT_URL = %v (declared %v), want declared and empty", v, ok)
	}
}
