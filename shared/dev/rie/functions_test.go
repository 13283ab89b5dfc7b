package rie_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/openapicheck"
	"github.com/acme/provider-credentials/shared/dev/rie"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// wantStatus is the status each event of events/<function folder>/ must
// get from its function under the emulator; 0 marks an event of a
// function that is not behind the API (it must only not fail). Every
// event file needs an entry, and every HTTP function a 2xx, a 401 and a
// 403 event. Entries of functions not yet in template.yaml wait unused.
var wantStatus = map[string]int{
	"list-credentials/ok.json":            200,
	"list-credentials/no-authorizer.json": 401,
	"list-credentials/no-org.json":        403,

	"create-credential/ok.json":                   201,
	"create-credential/duplicate.json":            409,
	"create-credential/unsupported-provider.json": 422,
	"create-credential/verify-unreachable.json":   422,
	"create-credential/member.json":               403,
	"create-credential/no-authorizer.json":        401,

	"get-credential/ok.json":            200,
	"get-credential/not-found.json":     404,
	"get-credential/bad-id.json":        422,
	"get-credential/no-org.json":        403,
	"get-credential/no-authorizer.json": 401,

	"update-credential/ok.json":                 200,
	"update-credential/rotate-key.json":         200,
	"update-credential/clear-key.json":          200,
	"update-credential/add-key.json":            200,
	"update-credential/verify-unreachable.json": 422,
	"update-credential/member.json":             403,
	"update-credential/no-authorizer.json":      401,

	"delete-credential/ok.json":            204,
	"delete-credential/not-found.json":     404,
	"delete-credential/member.json":        403,
	"delete-credential/no-authorizer.json": 401,

	"rollback-credential/ok.json":                      200,
	"rollback-credential/nothing-to-roll-back-to.json": 409,
	"rollback-credential/not-found.json":               404,
	"rollback-credential/member.json":                  403,
	"rollback-credential/no-authorizer.json":           401,

	"test-credential/ok.json":            200,
	"test-credential/member.json":        403,
	"test-credential/no-authorizer.json": 401,

	"get-usage/ok.json":            200,
	"get-usage/refresh.json":       200,
	"get-usage/not-found.json":     404,
	"get-usage/no-org.json":        403,
	"get-usage/no-authorizer.json": 401,

	// The schedule's rules send their Input, not EventBridge's envelope.
	"refresh-usage/segment-0.json": 0,
	"refresh-usage/segment-1.json": 0,
	"refresh-usage/segment-2.json": 0,
	"refresh-usage/segment-3.json": 0,

	// DynamoDB stream batches as Lambda delivers them to the publisher.
	"publish-events/created.json":        0,
	"publish-events/changed.json":        0,
	"publish-events/unlock-only.json":    0,
	"publish-events/deleted.json":        0,
	"publish-events/health.json":         0,
	"publish-events/refresh-cursor.json": 0,
}

// notReached lists IAM actions a function's policy grants that no run of
// its events (even with a fault injected at every call) makes, each with
// the reason the code still needs it. Anything else the template grants
// must be seen in use, and anything seen in use must be granted.
var notReached = map[string]map[string]string{
	"create-credential": {
		"secretsmanager:RestoreSecret secret":  "secrets.Store.Create restores a secret whose name is taken; a new credential's id never is",
		"secretsmanager:PutSecretValue secret": "the same path then writes the new key into the restored secret",
		"secretsmanager:DescribeSecret secret": "the same ScheduleDelete confirmation as update-credential's, after a failed create",
		"dynamodb:PutItem UsageTable":          "?verify=true stores the probe's result as fresh usage only when the provider accepted the key; the events' probes reach no provider (shared/dev/localapi's verify tests cover it against a fake one)",
	},
	"update-credential": {
		"secretsmanager:DescribeSecret secret": "secrets.Store.ScheduleDelete confirms a secret is already scheduled when the SDK's retry of a DeleteSecret whose answer was lost is refused; the events' faults never make the SDK retry",
		"dynamodb:PutItem UsageTable":          "the same as create-credential's: only after an accepted ?verify=true probe",
	},
	"delete-credential": {
		"secretsmanager:DescribeSecret secret": "the same ScheduleDelete confirmation as update-credential's",
	},
	"get-usage": {
		"dynamodb:UpdateItem CredentialsTable": "a probe writes the credential's health (shared/dynamo Store.PutHealth) only when it gives a verdict on the key; the fixture's credential probes api.openai.com, which the test machine cannot reach (no verdict, no write)",
	},
	"refresh-usage": {
		"dynamodb:BatchGetItem CredentialsTable": "the orphan sweep checks which secrets a credential claims only for secrets over an hour old (refresh.SweepOptions.MinAge); a test's secrets are new",
		"secretsmanager:DeleteSecret secret":     "the sweep then schedules the deletion of the unclaimed ones",
		"dynamodb:GetItem CredentialsTable":      "right before each such deletion the sweep re-reads the claiming credential (consistent GetItem) in case its key was re-added since the bulk check",
		"secretsmanager:DescribeSecret secret":   "and then re-reads the secret, to spare one written since it was listed",
		"secretsmanager:RestoreSecret secret":    "the sweep restores a secret scheduled for deletion that a credential still claims (a request killed between DeleteSecret and its metadata write) only once the deletion is 5 minutes old (refresh.SweepOptions.RestoreAfter); a test's deletions are new",
	},
}

// pendingDir holds events of functions that are not in template.yaml yet;
// the test ignores it. Move a folder out when its function is added.
const pendingDir = "_pending"

type setup struct {
	tpl  *samtemplate.Template
	doc  *openapicheck.Doc
	rie  string
	bins map[string]string
	root string
}

// TestFunctions builds every function of template.yaml, runs each of its
// events/ files through the real bootstrap under the Lambda Runtime
// Interface Emulator against moto, checks status and body (against
// openapi.yaml), and compares the AWS calls it makes with its IAM policy.
func TestFunctions(t *testing.T) {
	ctx := context.Background()
	tpl, err := awstest.Template()
	if err != nil {
		t.Fatal(err)
	}
	root := awstest.RepoRoot()
	fns := tpl.Functions()
	evs := eventFiles(t, root, fns)
	if t.Failed() {
		return
	}

	start := time.Now()
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, localapi.FunctionDir(fn.LogicalID))
	}
	bins, err := rie.Build(ctx, root, t.TempDir(), dirs)
	if err != nil {
		t.Fatal(err)
	}
	rieBin, err := rie.Binary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %d functions and the emulator in %s", len(bins), time.Since(start).Round(time.Millisecond))
	doc, err := openapicheck.Load(ctx, filepath.Join(root, "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := &setup{tpl: tpl, doc: doc, rie: rieBin, bins: bins, root: root}

	for _, fn := range fns {
		t.Run(fn.LogicalID, func(t *testing.T) {
			t.Parallel()
			dir := localapi.FunctionDir(fn.LogicalID)
			used := map[string]string{} // action resource → the event that made it
			for _, file := range evs[dir] {
				name := dir + "/" + file
				raw, err := os.ReadFile(filepath.Join(root, "events", dir, file))
				if err != nil {
					t.Fatal(err)
				}
				checkEvent(t, fn, name, raw)
				calls := s.run(t, fn, name, raw, 0)
				for _, a := range calls {
					used[a] = cmp.Or(used[a], name)
				}
				// Fail each call in turn: the compensations run, and what
				// they call must be allowed too.
				n := len(calls)
				for i := 1; i <= n; i++ {
					for _, a := range s.run(t, fn, name, raw, i) {
						used[a] = cmp.Or(used[a], fmt.Sprintf("%s with call %d failing", name, i))
					}
				}
			}
			checkPolicy(t, fn, dir, used)
		})
	}
	t.Cleanup(func() { t.Logf("whole run: %s", time.Since(start).Round(time.Millisecond)) })
}

// run invokes fn with one event in a world of its own (fresh tables and
// secret prefix, the fixture seeded) and returns the IAM actions of the AWS
// calls it made. With failAt 0 it checks the response; otherwise the
// failAt-th AWS call fails and only an answer is required.
func (s *setup) run(t *testing.T, fn samtemplate.Function, name string, event []byte, failAt int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := awstest.New(t)
	if err := rie.Seed(ctx, env.DDB, env.SM, env.CredTable, env.UsageTable, env.SecretPrefix+"/"+env.StackName, env.StackName); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, awstest.Endpoint(), failAt)
	vars, err := rie.FunctionEnv(s.tpl, fn, map[string]string{"SecretPrefix": env.SecretPrefix, "AWS::StackName": env.StackName},
		map[string]string{"CredentialsTable": env.CredTable, "UsageTable": env.UsageTable})
	if err != nil {
		t.Fatal(err)
	}
	vars["AWS_ENDPOINT_URL"] = rec.URL
	vars["AWS_REGION"] = "us-east-1"
	vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"] = "testing", "testing"
	vars["AWS_LAMBDA_FUNCTION_NAME"] = fn.LogicalID
	vars["AWS_LAMBDA_LOG_FORMAT"] = "JSON" // as LoggingConfig.LogFormat: JSON makes Lambda set it
	inst, err := rie.Start(ctx, s.rie, s.bins[localapi.FunctionDir(fn.LogicalID)], rie.Env(vars))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	out, err := inst.Invoke(ctx, event)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, redact(inst.Log()))
	}
	what := name
	if failAt > 0 {
		what = fmt.Sprintf("%s with call %d failing", name, failAt)
	}
	if bytes.Contains(out, []byte("not-real")) || bytes.Contains(out, []byte("sk-fixture")) {
		t.Errorf("%s: the response holds (part of) an API key", what)
	}
	if strings.Contains(inst.Log(), "not-real") || strings.Contains(inst.Log(), "sk-fixture") {
		t.Errorf("%s: the function's log holds (part of) an API key", what)
	}
	if isStream(fn) {
		checkStreamResponse(t, what, event, out, failAt, rec.Calls())
	} else if httpRoutes(fn) == nil {
		if fe, ok := rie.AsFunctionError(out); ok && failAt == 0 {
			t.Errorf("%s: got function error %s: %s, want success", what, fe.Type, fe.Message)
		}
	} else {
		s.checkHTTP(t, what, event, out, failAt)
		checkAccessLine(t, what, event, out, inst.Log, failAt == 0)
	}
	var acts []string
	tables := map[string]string{env.CredTable: "CredentialsTable", env.UsageTable: "UsageTable"}
	for _, c := range rec.Calls() {
		for _, a := range actions(c) {
			action, res, _ := strings.Cut(a, " ")
			if logical, ok := tables[res]; ok {
				res = logical
			}
			acts = append(acts, action+" "+res)
		}
	}
	return acts
}

func (s *setup) checkHTTP(t *testing.T, what string, event, out []byte, failAt int) {
	t.Helper()
	resp, err := rie.ParseHTTPResponse(out)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if failAt > 0 {
		if resp.StatusCode < 200 || resp.StatusCode > 599 {
			t.Errorf("%s: status = %d, want an HTTP status", what, resp.StatusCode)
		}
		return
	}
	if want := wantStatus[what]; resp.StatusCode != want {
		t.Errorf("%s: status = %d, want %d; body %.300s", what, resp.StatusCode, want, resp.Body)
		return
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	method, tmpl, _ := strings.Cut(ev.RouteKey, " ")
	header := http.Header{}
	for k, v := range resp.Headers {
		header.Set(k, v)
	}
	body := []byte(resp.Body)
	if err := s.doc.ValidateResponse(context.Background(), method, tmpl, ev.RawPath, ev.PathParameters,
		openapicheck.Response{Status: resp.StatusCode, Header: header, Body: body}); err != nil {
		t.Errorf("%s: %v\nbody %.500s", what, err, body)
	}
}

// redact drops the lines of an emulator log that could quote an event body.
func redact(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "api_key") || strings.Contains(l, "sk-") {
			l = "[line withheld: it may quote a key]"
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func httpRoutes(fn samtemplate.Function) []samtemplate.Event {
	var out []samtemplate.Event
	for _, ev := range fn.Events {
		if ev.Type == "HttpApi" {
			out = append(out, ev)
		}
	}
	return out
}

// eventFiles checks the layout of events/ against template.yaml and returns
// each function folder's event files. A folder of a function that is not in
// the template fails (stage it under events/_pending/ until it is).
func eventFiles(t *testing.T, root string, fns []samtemplate.Function) map[string][]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "events"))
	if err != nil {
		t.Fatalf("events/: %v", err)
	}
	byDir := map[string]samtemplate.Function{}
	for _, fn := range fns {
		byDir[localapi.FunctionDir(fn.LogicalID)] = fn
	}
	out := map[string][]string{}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == pendingDir {
			continue
		}
		if _, ok := byDir[e.Name()]; !ok {
			t.Errorf("events/%s: no function of template.yaml has folder functions/%s; stage its events under events/%s/ until it has", e.Name(), e.Name(), pendingDir)
			continue
		}
		files, err := filepath.Glob(filepath.Join(root, "events", e.Name(), "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			out[e.Name()] = append(out[e.Name()], filepath.Base(f))
		}
		sort.Strings(out[e.Name()])
	}
	for dir, fn := range byDir {
		if len(out[dir]) == 0 {
			t.Errorf("%s: no events: want events/%s/*.json for it", fn.LogicalID, dir)
			continue
		}
		have := map[string]bool{}
		for _, f := range out[dir] {
			st, ok := wantStatus[dir+"/"+f]
			if !ok {
				t.Errorf("events/%s/%s: no expected status in wantStatus; add one", dir, f)
				continue
			}
			switch {
			case st >= 200 && st < 300:
				have["2xx"] = true
			case st == 401, st == 403:
				have[fmt.Sprint(st)] = true
			}
		}
		if httpRoutes(fn) != nil {
			for _, k := range []string{"2xx", "401", "403"} {
				if !have[k] {
					t.Errorf("%s: events/%s has no event answered %s; want at least one", fn.LogicalID, dir, k)
				}
			}
		}
	}
	for k := range wantStatus {
		dir, file, _ := strings.Cut(k, "/")
		if _, ok := byDir[dir]; ok && !slices.Contains(out[dir], file) {
			t.Errorf("wantStatus names events/%s, which does not exist", k)
		}
	}
	return out
}

// checkEvent checks that an event is what API Gateway (payload 2.0, JWT
// authorizer) or EventBridge would send to fn.
func checkEvent(t *testing.T, fn samtemplate.Function, name string, raw []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Errorf("%s: not JSON: %v", name, err)
		return
	}
	if isStream(fn) {
		checkStreamEvent(t, name, raw)
		return
	}
	routes := httpRoutes(fn)
	if routes == nil {
		checkScheduledEvent(t, fn, name, m)
		return
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Errorf("%s: does not decode as payload 2.0 (claims must be strings): %v", name, err)
		return
	}
	if ev.Version != "2.0" {
		t.Errorf("%s: version = %q, want 2.0", name, ev.Version)
	}
	var route *samtemplate.Event
	for i := range routes {
		if routes[i].Method+" "+routes[i].Path == ev.RouteKey {
			route = &routes[i]
		}
	}
	if route == nil {
		t.Errorf("%s: routeKey = %q, want one of %s's routes", name, ev.RouteKey, fn.LogicalID)
		return
	}
	if ev.RequestContext.RouteKey != ev.RouteKey || ev.RequestContext.HTTP.Method != route.Method {
		t.Errorf("%s: requestContext routeKey %q, method %q; want %q, %q", name, ev.RequestContext.RouteKey, ev.RequestContext.HTTP.Method, ev.RouteKey, route.Method)
	}
	wantPath := route.Path
	for k, v := range ev.PathParameters {
		wantPath = strings.ReplaceAll(wantPath, "{"+k+"}", v)
	}
	if ev.RawPath != wantPath || ev.RequestContext.HTTP.Path != ev.RawPath {
		t.Errorf("%s: rawPath %q, requestContext.http.path %q; want %q from the route and pathParameters", name, ev.RawPath, ev.RequestContext.HTTP.Path, wantPath)
	}
	if _, ok := m["rawQueryString"]; !ok {
		t.Errorf("%s: no rawQueryString; API Gateway always sends it", name)
	}
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil {
		t.Errorf("%s: rawQueryString: %v", name, err)
	}
	for k := range q {
		if ev.QueryStringParameters[k] != strings.Join(q[k], ",") {
			t.Errorf("%s: queryStringParameters[%s] = %q, want %q", name, k, ev.QueryStringParameters[k], strings.Join(q[k], ","))
		}
	}
	if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil {
		for _, c := range []string{"org_id", "org_role", "sub"} {
			if _, ok := a.JWT.Claims[c]; !ok && !strings.Contains(name, "no-org") {
				t.Errorf("%s: claims have no %s", name, c)
			}
		}
	}
}

// checkScheduledEvent checks an event of a scheduled function: the Input
// of one of its Schedule events when they set one (EventBridge then sends
// that instead of its envelope), else EventBridge's "Scheduled Event".
func checkScheduledEvent(t *testing.T, fn samtemplate.Function, name string, m map[string]any) {
	t.Helper()
	var inputs []any
	for _, ev := range fn.Events {
		if ev.Type != "Schedule" && ev.Type != "ScheduleV2" {
			continue
		}
		s, ok := ev.Properties["Input"].(string)
		if !ok {
			continue
		}
		var in any
		if err := json.Unmarshal([]byte(s), &in); err != nil {
			t.Errorf("%s: event %s: Input is not JSON: %v", fn.LogicalID, ev.Name, err)
			continue
		}
		inputs = append(inputs, in)
	}
	if len(inputs) == 0 {
		if m["detail-type"] != "Scheduled Event" || m["source"] != "aws.events" {
			t.Errorf("%s: detail-type %v, source %v; want an EventBridge \"Scheduled Event\" from aws.events", name, m["detail-type"], m["source"])
		}
		return
	}
	for _, in := range inputs {
		if reflect.DeepEqual(in, any(m)) {
			return
		}
	}
	t.Errorf("%s: got %v, want the Input of one of %s's schedules: %v", name, m, fn.LogicalID, inputs)
}

// checkPolicy compares the actions fn's runs made with its IAM policy.
func checkPolicy(t *testing.T, fn samtemplate.Function, dir string, used map[string]string) {
	t.Helper()
	granted := map[string]bool{}
	for _, p := range fn.Policies {
		doc, ok := p.(map[string]any)
		stmts, _ := doc["Statement"].([]any)
		if !ok || stmts == nil {
			t.Errorf("%s: policy %v: want an inline policy with Statement (the check reads actions from it)", fn.LogicalID, p)
			continue
		}
		for _, sv := range stmts {
			st, _ := sv.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range list(st["Action"]) {
				for _, r := range list(st["Resource"]) {
					granted[fmt.Sprint(a)+" "+resourceKey(r)] = true
				}
			}
		}
	}
	for _, a := range slices.Sorted(maps.Keys(used)) {
		if !granted[a] {
			t.Errorf("%s: its code calls %s (in %s), but template.yaml does not grant it; got grants %v", fn.LogicalID, a, used[a], slices.Sorted(maps.Keys(granted)))
		}
	}
	for _, g := range slices.Sorted(maps.Keys(granted)) {
		if _, ok := used[g]; ok {
			continue
		}
		if _, ok := notReached[dir][g]; !ok {
			t.Errorf("%s: template.yaml grants %s, but no run of its events (with a fault at every call) makes it; want it removed, or listed in notReached with the reason the code needs it", fn.LogicalID, g)
		}
	}
	for g := range notReached[dir] {
		if _, ok := used[g]; ok {
			t.Errorf("%s: notReached lists %s, but %s makes it; remove it from notReached", fn.LogicalID, g, used[g])
		} else if !granted[g] {
			t.Errorf("%s: notReached lists %s, which template.yaml does not grant; remove it from notReached", fn.LogicalID, g)
		}
	}
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// resourceKey names a policy resource as actions() does: a table's
// logical id, "secret" for the key store's prefix, or the text as written.
func resourceKey(v any) string {
	if i, ok := v.(samtemplate.Intrinsic); ok {
		switch i.Fn {
		case "Fn::GetAtt":
			parts := []string{}
			for _, p := range list(i.Args) {
				parts = append(parts, fmt.Sprint(p))
			}
			if s := strings.Join(parts, "."); strings.HasSuffix(s, ".Arn") {
				return strings.TrimSuffix(s, ".Arn")
			}
		case "Fn::Sub":
			if s, ok := i.Args.(string); ok && strings.HasSuffix(s, ":secret:${SecretPrefix}/${AWS::StackName}/*") {
				return "secret"
			}
			if s, ok := i.Args.(string); ok && strings.HasSuffix(s, ":event-bus/${EventBusName}") {
				return "bus"
			}
		}
		return i.String()
	}
	return fmt.Sprint(v)
}

// checkAccessLine checks that an HTTP function's invocation logged exactly
// one access line, in Lambda's JSON format, with API Gateway's request id
// and route key from the event, Lambda's request id, and the status it
// answered; with only set, no line of its own besides (a run with a fault
// injected may add a warning of a side-failure).
func checkAccessLine(t *testing.T, what string, event, out []byte, logOf func() string, only bool) {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event, &ev); err != nil {
		return
	}
	resp, err := rie.ParseHTTPResponse(out)
	if err != nil {
		return // checkHTTP reported it
	}
	// The emulator relays the function's output on its own; the response
	// may come first. The access line is the last the function writes.
	log := logOf()
	for deadline := time.Now().Add(3 * time.Second); !strings.Contains(log, `"message":"request"`) && time.Now().Before(deadline); log = logOf() {
		time.Sleep(20 * time.Millisecond)
	}
	var lines []map[string]any
	for _, l := range strings.Split(log, "\n") {
		var m map[string]any
		if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &m) != nil || m["message"] == nil {
			continue // the emulator's own lines, START/END/REPORT
		}
		if only || m["message"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Errorf("%s: the function logged %d JSON lines (access lines, or any with no fault injected), want exactly one:\n%s", what, len(lines), redact(log))
		return
	}
	l := lines[0]
	if l["message"] != "request" || l["api_request_id"] != ev.RequestContext.RequestID || l["route"] != ev.RouteKey ||
		l["status"] != float64(resp.StatusCode) || l["requestId"] == nil || l["requestId"] == "" || l["aws_calls"] == nil {
		t.Errorf("%s: access line %v; want message request, api_request_id %q, route %q, status %d, Lambda's requestId, aws_calls",
			what, l, ev.RequestContext.RequestID, ev.RouteKey, resp.StatusCode)
	}
}
