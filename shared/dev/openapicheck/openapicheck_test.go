package openapicheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/authn"
	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/fakeprovider"
	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/openapicheck"
	"github.com/acme/provider-credentials/shared/httpapi"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func loadDoc(t *testing.T) *openapicheck.Doc {
	t.Helper()
	doc, err := openapicheck.Load(context.Background(), filepath.Join(awstest.RepoRoot(), "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// templateRoutes are the routes template.yaml deploys (templatecheck's
// TestRoutes asserts they are SPEC's).
func templateRoutes(t *testing.T) []string {
	t.Helper()
	tpl, err := awstest.Template()
	if err != nil {
		t.Fatal(err)
	}
	return tpl.HTTPRoutes()
}

// The document describes exactly the template's routes (SPEC's), each with
// the bearer JWT scheme, and is OpenAPI 3.1.
func TestDocumentCoversSpec(t *testing.T) {
	doc := loadDoc(t)
	if doc.T.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.T.OpenAPI)
	}
	got, want := doc.Routes(), templateRoutes(t)
	if !slices.Equal(got, want) {
		t.Errorf("routes of openapi.yaml = %v, want template.yaml's %v", got, want)
	}
	ss := doc.T.Components.SecuritySchemes["bearerAuth"]
	if ss == nil || ss.Value.Type != "http" || ss.Value.Scheme != "bearer" || ss.Value.BearerFormat != "JWT" {
		t.Errorf("securitySchemes.bearerAuth = %+v, want http bearer JWT", ss)
	}
	if len(doc.T.Security) != 1 || doc.T.Security[0]["bearerAuth"] == nil {
		t.Errorf("security = %v, want bearerAuth on every operation", doc.T.Security)
	}
	for _, r := range want {
		method, path, _ := strings.Cut(r, " ")
		statuses := doc.Statuses(method, path)
		for _, s := range []int{401, 403} {
			if !slices.Contains(statuses, s) {
				t.Errorf("%s documents %v, want %d among them", r, statuses, s)
			}
		}
	}
}

// kin-openapi validates OpenAPI 3.1 bodies for real: these wrong bodies
// must fail, or the other tests prove nothing.
func TestValidatorRejectsWrongBodies(t *testing.T) {
	doc := loadDoc(t)
	ctx := context.Background()
	good := `{"id":"3f6c2a9e-8b1d-4c7a-9e2f-5d4b3a2c1e0f","organization_id":"org-a","provider":"openai",` +
		`"account_key":"default","display_name":"default","api_key_last_four":null,"has_api_key":false,` +
		`"base_url":null,"active":true,"created_at":"2026-05-20T22:03:57.123456Z","updated_at":"2026-05-20T22:03:57.123456Z",` +
		`"created_by":"user-1","updated_by":null,"health":{"status":"unknown","error_code":null,"failing_since":null,"last_ok_at":null,"checked_at":null,"quota_low":null,"stale_key":false},"api_key_updated_at":null}`
	check := func(status int, body string) error {
		return doc.ValidateResponse(ctx, "GET", "/provider-credentials/{credential_id}", "/provider-credentials/x",
			map[string]string{"credential_id": "x"},
			openapicheck.Response{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body)})
	}
	if err := check(200, good); err != nil {
		t.Fatalf("a correct credential: %v", err)
	}
	failing := strings.Replace(good, `"health":{"status":"unknown","error_code":null,"failing_since":null,"last_ok_at":null,"checked_at":null,"quota_low":null,"stale_key":false}`,
		`"health":{"status":"failing","error_code":"invalid_key","failing_since":"2026-05-20T22:05:00.000000Z","last_ok_at":"2026-05-20T21:00:00.000000Z",`+
			`"checked_at":"2026-05-20T22:05:00.000000Z","quota_low":{"window":"requests","remaining_pct":4.2,"reset_at":"2026-05-20T22:30:00.000000Z"},"stale_key":true}`, 1)
	if err := check(200, failing); err != nil {
		t.Fatalf("a correct failing credential with a quota-low marker: %v", err)
	}
	bad := map[string]string{
		"last four is a number":     strings.Replace(good, `"api_key_last_four":null`, `"api_key_last_four":1234`, 1),
		"last four too long":        strings.Replace(good, `"api_key_last_four":null`, `"api_key_last_four":"12345"`, 1),
		"base_url missing":          strings.Replace(good, `"base_url":null,`, ``, 1),
		"an extra field":            strings.Replace(good, `"active":true`, `"active":true,"secret_name":"x"`, 1),
		"unknown provider":          strings.Replace(good, `"provider":"openai"`, `"provider":"acme"`, 1),
		"created_at not a time":     strings.Replace(good, `"created_at":"2026-05-20T22:03:57.123456Z"`, `"created_at":"yesterday"`, 1),
		"has_api_key null":          strings.Replace(good, `"has_api_key":false`, `"has_api_key":null`, 1),
		"health status unlisted":    strings.Replace(good, `"status":"unknown"`, `"status":"sick"`, 1),
		"health quota_low a word":   strings.Replace(good, `"quota_low":null`, `"quota_low":"low"`, 1),
		"quota_low window unlisted": strings.Replace(failing, `"window":"requests"`, `"window":"credits"`, 1),
		"health missing":            strings.Replace(good, `,"health":{"status":"unknown","error_code":null,"failing_since":null,"last_ok_at":null,"checked_at":null,"quota_low":null,"stale_key":false}`, ``, 1),
		"id not a uuid":             strings.Replace(good, `"id":"3f6c2a9e-8b1d-4c7a-9e2f-5d4b3a2c1e0f"`, `"id":"nope"`, 1),
		"detail is a number":        "404:" + `{"detail":5}`,
		"no detail":                 "403:" + `{"message":"Forbidden"}`,
		"undocumented status 418":   "418:" + `{"detail":"teapot"}`,
		"created_by a number":       strings.Replace(good, `"created_by":"user-1"`, `"created_by":1`, 1),
	}
	for name, body := range bad {
		status := 200
		if s, rest, ok := strings.Cut(body, ":"); ok && len(s) == 3 && s[0] >= '1' && s[0] <= '5' {
			if _, err := fmt.Sscan(s, &status); err != nil {
				t.Fatalf("%s: status %q: %v", name, s, err)
			}
			body = rest
		}
		if err := check(status, body); err == nil {
			t.Errorf("%s: validation passed, want an error", name)
		}
	}
}

// apiHarness is the whole API in-process, as in shared/localapi: the API
// Gateway emulator checks the JWT and builds the event, the Lambda adapter
// runs the real handler, the handler talks to moto.
type apiHarness struct {
	h   http.Handler
	dev *authn.DevIssuer
	env *awstest.Env
}

// outage, at the end of a call's who, runs the call with every DynamoDB
// call throttled.
const outage = " during an outage"

func newAPI(t *testing.T) *apiHarness {
	t.Helper()
	env := awstest.New(t)
	b, err := app.NewBuilder(context.Background(), env.Getenv, app.Clients{DynamoDB: env.DDB, SecretsManager: env.SM})
	if err != nil {
		t.Fatalf("builder: %v", err)
	}
	b.Log = slog.New(slog.DiscardHandler)
	tpl, err := awstest.Template()
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	dev, err := authn.NewDevIssuer()
	if err != nil {
		t.Fatalf("dev issuer: %v", err)
	}
	gw, err := localapi.Handler(tpl, b, dev.Verifier())
	if err != nil {
		t.Fatalf("local API: %v", err)
	}
	return &apiHarness{h: gw, dev: dev, env: env}
}

func (a *apiHarness) token(t *testing.T, who string) string {
	t.Helper()
	claims := authn.DevClaims("user-1", time.Hour, time.Now())
	switch who {
	case "":
		return ""
	case "admin":
		claims["org_id"], claims["org_role"] = "org-a", []any{"admin", "billing"}
	case "member":
		claims["org_id"], claims["org_role"] = "org-a", "member"
	case "no-org":
		claims["org_role"] = "member"
	}
	tok, err := a.dev.Sign(claims)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

func (a *apiHarness) do(t *testing.T, method, path, who, body string) openapicheck.Response {
	t.Helper()
	if w, ok := strings.CutSuffix(who, outage); ok {
		who = w
		a.env.Calls.Outage("DynamoDB", awstest.Throttled("DynamoDB"))
		defer a.env.Calls.Reset()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := a.token(t, who); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return openapicheck.Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// fakeProvider is an OpenAI-style provider that accepts any key, so that
// usage routes have windows to report.
func fakeProvider(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(fakeprovider.NewOpenAI())
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// call is one request of the scenario: {id} is the credential made at the
// start, {del} one made to be deleted, {other} an id nobody has.
type call struct {
	route, path, who, body string
	want                   int
}

// scenario has requests for every route of SPEC; only the routes that
// template.yaml has are run, and for those every documented status must be
// seen, except the ones in unreachable.
func scenario(provider string) []call {
	big := `{"provider":"openai","account_key":"` + strings.Repeat("x", httpapi.MaxBody) + `"}`
	key := `"sk-openapi-check-not-real-9876"`
	return []call{
		{httpapi.RouteList, "/provider-credentials", "member", "", 200},
		{httpapi.RouteList, "/provider-credentials", "", "", 401},
		{httpapi.RouteList, "/provider-credentials", "no-org", "", 403},
		{httpapi.RouteList, "/provider-credentials", "member" + outage, "", 503},

		{httpapi.RouteCreate, "/provider-credentials", "admin", `{"provider":"openai","account_key":"dup"}`, 201},
		{httpapi.RouteCreate, "/provider-credentials", "admin", `{"provider":"openai","account_key":"dup"}`, 409},
		{httpapi.RouteCreate, "/provider-credentials", "admin", `{"provider":"acme","account_key":"x"}`, 422},
		{httpapi.RouteCreate, "/provider-credentials?verify=true", "admin", `{"provider":"openai_compatible","account_key":"verified","api_key":` + key + `,"base_url":"` + provider + `"}`, 201},
		{httpapi.RouteCreate, "/provider-credentials?verify=true", "admin", `{"provider":"openai","account_key":"unverifiable"}`, 422},
		{httpapi.RouteCreate, "/provider-credentials", "admin", `{"provider":"openai","account_key":5}`, 422},
		{httpapi.RouteCreate, "/provider-credentials", "admin", `{"provider":`, 422},
		{httpapi.RouteCreate, "/provider-credentials", "admin", big, 413},
		{httpapi.RouteCreate, "/provider-credentials", "member", `{"provider":"openai","account_key":"m"}`, 403},
		{httpapi.RouteCreate, "/provider-credentials", "", `{"provider":"openai","account_key":"m"}`, 401},
		{httpapi.RouteCreate, "/provider-credentials", "admin" + outage, `{"provider":"openai","account_key":"o","api_key":` + key + `}`, 503},

		{httpapi.RouteTest, "/provider-credentials/test", "admin", `{"provider":"openai_compatible","api_key":` + key + `,"base_url":"` + provider + `"}`, 200},
		{httpapi.RouteTest, "/provider-credentials/test", "admin", `{"provider":"acme","api_key":"k"}`, 422},
		{httpapi.RouteTest, "/provider-credentials/test", "admin", big, 413},
		{httpapi.RouteTest, "/provider-credentials/test", "member", `{"provider":"openai"}`, 403},
		{httpapi.RouteTest, "/provider-credentials/test", "", `{"provider":"openai"}`, 401},

		{httpapi.RouteGet, "/provider-credentials/{id}", "member", "", 200},
		{httpapi.RouteGet, "/provider-credentials/{other}", "member", "", 404},
		{httpapi.RouteGet, "/provider-credentials/not-a-uuid", "member", "", 422},
		{httpapi.RouteGet, "/provider-credentials/{id}", "no-org", "", 403},
		{httpapi.RouteGet, "/provider-credentials/{id}", "", "", 401},
		{httpapi.RouteGet, "/provider-credentials/{id}", "member" + outage, "", 503},

		{httpapi.RouteUsage, "/provider-credentials/{id}/usage", "member", "", 200},
		{httpapi.RouteUsage, "/provider-credentials/{id}/usage?refresh=true", "member", "", 200},
		{httpapi.RouteUsage, "/provider-credentials/{other}/usage", "member", "", 404},
		{httpapi.RouteUsage, "/provider-credentials/not-a-uuid/usage", "member", "", 422},
		{httpapi.RouteUsage, "/provider-credentials/{id}/usage", "no-org", "", 403},
		{httpapi.RouteUsage, "/provider-credentials/{id}/usage", "", "", 401},
		{httpapi.RouteUsage, "/provider-credentials/{id}/usage", "member" + outage, "", 503},

		{httpapi.RouteUpdate, "/provider-credentials/{id}", "admin", `{"display_name":"Production","active":false}`, 200},
		{httpapi.RouteUpdate, "/provider-credentials/{id}", "admin", `{"api_key":"sk-rotated-not-real-4321"}`, 200},
		// Rolled back to the first key, then forward again, before the clear below.
		{httpapi.RouteRollback, "/provider-credentials/{id}/rollback", "admin", "", 200},
		{httpapi.RouteRollback, "/provider-credentials/{id}/rollback", "admin", "", 200},
		{httpapi.RouteRollback, "/provider-credentials/{del}/rollback", "admin", "", 409}, // never rotated
		{httpapi.RouteRollback, "/provider-credentials/{other}/rollback", "admin", "", 404},
		{httpapi.RouteRollback, "/provider-credentials/not-a-uuid/rollback", "admin", "", 422},
		{httpapi.RouteRollback, "/provider-credentials/{id}/rollback", "member", "", 403},
		{httpapi.RouteRollback, "/provider-credentials/{id}/rollback", "", "", 401},
		{httpapi.RouteRollback, "/provider-credentials/{id}/rollback", "admin" + outage, "", 503},
		{httpapi.RouteUpdate, "/provider-credentials/{id}", "admin", `{"api_key":""}`, 200},
		{httpapi.RouteUpdate, "/provider-credentials/{other}", "admin", `{"display_name":"x"}`, 404},
		{httpapi.RouteUpdate, "/provider-credentials/{id}", "admin", `{"active":[1]}`, 422},
		{httpapi.RouteUpdate, "/provider-credentials/not-a-uuid", "admin", `{"active":true}`, 422},
		{httpapi.RouteUpdate, "/provider-credentials/{id}", "admin", big, 413},
		{httpapi.RouteUpdate, "/provider-credentials/{id}", "member", `{"active":true}`, 403},
		{httpapi.RouteUpdate, "/provider-credentials/{id}", "", `{"active":true}`, 401},
		{httpapi.RouteUpdate, "/provider-credentials/{id}", "admin" + outage, `{"api_key":"sk-outage-not-real-5555"}`, 503},

		{httpapi.RouteDelete, "/provider-credentials/{del}", "admin", "", 204},
		{httpapi.RouteDelete, "/provider-credentials/{del}", "admin", "", 404},
		{httpapi.RouteDelete, "/provider-credentials/not-a-uuid", "admin", "", 422},
		{httpapi.RouteDelete, "/provider-credentials/{id}", "member", "", 403},
		{httpapi.RouteDelete, "/provider-credentials/{id}", "", "", 401},
		{httpapi.RouteDelete, "/provider-credentials/{id}", "admin" + outage, "", 503},
	}
}

// unreachable are documented statuses this scenario cannot provoke: a
// concurrent change between a read and a conditional write.
var unreachable = map[string]bool{
	httpapi.RouteUpdate + " 409": true,
	httpapi.RouteDelete + " 409": true,
}

// Every response of the running handlers matches openapi.yaml, and every
// documented status of every route in template.yaml is seen.
func TestResponsesMatchDocument(t *testing.T) {
	doc := loadDoc(t)
	routes := templateRoutes(t)
	deployed := map[string]bool{}
	for _, r := range routes {
		deployed[r] = true
	}

	api := newAPI(t)
	provider := fakeProvider(t)
	ctx := context.Background()
	mk := func(body string) string {
		r := api.do(t, "POST", "/provider-credentials", "admin", body)
		if r.Status != 201 {
			t.Fatalf("create: status = %d, want 201; body %s", r.Status, r.Body)
		}
		var c struct{ ID string }
		if err := json.Unmarshal(r.Body, &c); err != nil {
			t.Fatalf("create: %v", err)
		}
		return c.ID
	}
	ids := map[string]string{
		"{id}": mk(`{"provider":"openai_compatible","account_key":"main","api_key":"sk-openapi-check-not-real-1111",` +
			`"base_url":"` + provider + `"}`),
		"{del}":   mk(`{"provider":"anthropic","account_key":"to-delete","api_key":"sk-ant-not-real-2222"}`),
		"{other}": credentials.NewID(),
	}

	seen := map[string]bool{}
	for _, c := range scenario(provider) {
		if !deployed[c.route] {
			continue
		}
		path := c.path
		for k, v := range ids {
			path = strings.ReplaceAll(path, k, v)
		}
		method, tmpl, _ := strings.Cut(c.route, " ")
		resp := api.do(t, method, path, c.who, c.body)
		name := fmt.Sprintf("%s %s as %q", method, c.path, c.who)
		if resp.Status != c.want {
			t.Errorf("%s: status = %d, want %d; body %.300s", name, resp.Status, c.want, resp.Body)
			continue
		}
		rawPath, _, _ := strings.Cut(path, "?")
		params := pathParams(tmpl, rawPath)
		if err := doc.ValidateResponse(ctx, method, tmpl, path, params, resp); err != nil {
			t.Errorf("%s: %v\nbody %.500s", name, err, resp.Body)
		}
		if bytes.Contains(resp.Body, []byte("not-real")) {
			t.Errorf("%s: the response holds (part of) an API key", name)
		}
		seen[fmt.Sprintf("%s %d", c.route, resp.Status)] = true
	}
	for _, r := range routes {
		method, tmpl, _ := strings.Cut(r, " ")
		for _, s := range doc.Statuses(method, tmpl) {
			k := fmt.Sprintf("%s %d", r, s)
			if !seen[k] && !unreachable[k] {
				t.Errorf("%s: documented status %d was never answered by the scenario; want a request that provokes it", r, s)
			}
		}
	}
}

// pathParams matches a raw path against a route template.
func pathParams(tmpl, raw string) map[string]string {
	ts, rs := strings.Split(tmpl, "/"), strings.Split(raw, "/")
	out := map[string]string{}
	for i := range ts {
		if i < len(rs) && strings.HasPrefix(ts[i], "{") {
			out[strings.Trim(ts[i], "{}")] = rs[i]
		}
	}
	return out
}
