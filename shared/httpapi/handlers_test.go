package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
	"github.com/acme/provider-credentials/shared/httpapi"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/usage"
)

// The handlers' decoding, errors and statuses, through the real handlers
// and the real API Gateway event adapter, over the in-memory stores.

type prober struct {
	probes  int
	lastKey string // the key of the last probe
}

func (p *prober) Probe(_ context.Context, t usage.Target) usage.Result {
	p.probes++
	p.lastKey = t.APIKey
	return usage.Result{Provider: t.Provider, AccountKey: t.AccountKey, CheckedAt: time.Now().UTC().Truncate(time.Microsecond), Reachable: t.APIKey != ""}
}

type api struct {
	faults *mem.Faults
	prober *prober
	routes map[string]http.Handler // by route pattern
}

func newAPI(t *testing.T) *api {
	t.Helper()
	faults := &mem.Faults{}
	store, keys := mem.NewStore(faults), mem.NewKeyStore(faults)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := &prober{}
	d := httpapi.Deps{
		Service: credentials.NewService(store, credentials.Options{Keys: keys, Log: log, BaseURLCheck: func(p, raw string) error {
			return usage.ValidateBaseURL(p, raw, false)
		}}),
		Usage: liveusage.New(store, keys, p, liveusage.Options{Fresh: time.Minute, Log: log}),
		Auth:  httpapi.Auth{OrgClaim: "org_id", RoleClaim: "org_role", AdminRoles: []string{"admin", "owner"}},
		Log:   log,
	}
	return &api{faults: faults, prober: p, routes: map[string]http.Handler{
		httpapi.RouteList: httpapi.ListCredentials(d), httpapi.RouteCreate: httpapi.CreateCredential(d),
		httpapi.RouteTest: httpapi.TestCredential(d), httpapi.RouteGet: httpapi.GetCredential(d),
		httpapi.RouteUpdate: httpapi.UpdateCredential(d), httpapi.RouteUsage: httpapi.GetUsage(d),
		httpapi.RouteDelete: httpapi.DeleteCredential(d), httpapi.RouteRollback: httpapi.RollbackCredential(d),
	}}
}

var (
	admin  = map[string]string{"org_id": "org-a", "org_role": "[admin billing]", "sub": "u1"}
	member = map[string]string{"org_id": "org-a", "org_role": `["member"]`, "sub": "u2"}
	other  = map[string]string{"org_id": "org-b", "org_role": "owner", "sub": "u3"}
)

// call sends one request to route's function as API Gateway would (claims
// nil: no authorizer context) and returns the status and the raw body.
func (a *api) call(t *testing.T, route, path, body string, claims map[string]string) (int, string) {
	t.Helper()
	method, _, _ := strings.Cut(route, " ")
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: path, Body: body,
		Headers: map[string]string{"content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
	if p, q, ok := strings.Cut(path, "?"); ok {
		ev.RawPath, ev.RawQueryString, ev.RequestContext.HTTP.Path = p, q, p
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	r, err := (&core.RequestAccessorV2{}).EventToRequestWithContext(context.Background(), ev)
	if err != nil {
		t.Fatalf("event to request: %v", err)
	}
	rec := httptest.NewRecorder()
	a.routes[route].ServeHTTP(rec, r)
	if rec.Code != http.StatusNoContent && rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q", route, path, rec.Header().Get("Content-Type"))
	}
	return rec.Code, rec.Body.String()
}

// want checks status and, when detail is not nil, the body's detail.
func (a *api) want(t *testing.T, route, path, body string, claims map[string]string, status int, detail any) string {
	t.Helper()
	got, b := a.call(t, route, path, body, claims)
	if got != status {
		t.Fatalf("%s %s %.80s: status %d (%s), want %d", route, path, body, got, b, status)
	}
	if detail != nil {
		var e struct{ Detail any }
		if err := json.Unmarshal([]byte(b), &e); err != nil {
			t.Fatalf("%s %s: body %q: %v", route, path, b, err)
		}
		want, _ := json.Marshal(detail)
		var w any
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(e.Detail, w) {
			t.Fatalf("%s %s %.80s: detail %s, want %s", route, path, body, b, want)
		}
	}
	return b
}

func fe(loc []any, msg, typ string) map[string]any {
	return map[string]any{"loc": loc, "msg": msg, "type": typ}
}

func (a *api) create(t *testing.T, body string) map[string]any {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal([]byte(a.want(t, httpapi.RouteCreate, "/provider-credentials", body, admin, 201, nil)), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateAndReadStatuses(t *testing.T) {
	a := newAPI(t)
	c := a.create(t, `{"provider":"openai","account_key":"default","api_key":"sk-live-wxyz","active":"yes"}`)
	// SPEC's fields, every one; and beyond them only the fields added since
	// (new fields may be added, none removed or renamed).
	specFields := []string{"account_key", "active", "api_key_last_four", "base_url", "created_at", "display_name", "has_api_key", "id", "organization_id", "provider", "updated_at"}
	added := map[string]bool{"created_by": true, "updated_by": true, "health": true, "api_key_updated_at": true}
	for _, f := range specFields {
		if _, ok := c[f]; !ok {
			t.Errorf("field %s missing from %v", f, c)
		}
	}
	for k := range c {
		if !slices.Contains(specFields, k) && !added[k] {
			t.Errorf("unexpected field %s", k)
		}
	}
	if c["display_name"] != "default" || c["api_key_last_four"] != "wxyz" || c["has_api_key"] != true || c["base_url"] != nil || c["organization_id"] != "org-a" {
		t.Fatalf("created %v", c)
	}
	// Never probed: health unknown, nothing else known.
	if h, _ := json.Marshal(c["health"]); string(h) != `{"checked_at":null,"error_code":null,"failing_since":null,"last_ok_at":null,"quota_low":null,"stale_key":false,"status":"unknown"}` {
		t.Fatalf("health of a new credential = %s", h)
	}
	id := c["id"].(string)
	a.want(t, httpapi.RouteCreate, "/provider-credentials", `{"provider":"openai","account_key":"default"}`, admin, 409,
		"A 'openai' credential with account key 'default' already exists.")
	a.create(t, `{"provider":"anthropic","account_key":"b","api_key":"","base_url":""}`)

	list := a.want(t, httpapi.RouteList, "/provider-credentials", "", member, 200, nil)
	var got []map[string]any
	if err := json.Unmarshal([]byte(list), &got); err != nil || len(got) != 2 || got[0]["provider"] != "anthropic" || got[1]["id"] != id {
		t.Fatalf("list %s", list)
	}
	if got[0]["has_api_key"] != false || got[0]["base_url"] != nil {
		t.Fatalf("empty api_key and base_url not stored as none: %v", got[0])
	}
	if strings.Contains(list, "sk-live") {
		t.Fatal("the list shows the key")
	}
	if b := a.want(t, httpapi.RouteList, "/provider-credentials", "", other, 200, nil); b != "[]" {
		t.Fatalf("another org's list: %s, want []", b)
	}
	a.want(t, httpapi.RouteGet, "/provider-credentials/"+strings.ToUpper(id), "", member, 200, nil)
	a.want(t, httpapi.RouteGet, "/provider-credentials/"+id, "", other, 404, "Not Found")
	a.want(t, httpapi.RouteGet, "/provider-credentials/"+credentials.NewID(), "", member, 404, "Not Found")
	a.want(t, httpapi.RouteGet, "/provider-credentials/nope", "", member, 422,
		[]any{fe([]any{"path", "credential_id"}, "Input should be a valid UUID", "uuid_parsing")})
	a.want(t, httpapi.RouteGet, "/elsewhere", "", member, 404, "Not Found")
}

func TestBodyErrors(t *testing.T) {
	a := newAPI(t)
	const create = httpapi.RouteCreate
	for _, tc := range []struct {
		name, body string
		status     int
		detail     any
	}{
		{"unsupported provider", `{"provider":"acme","account_key":"a"}`, 422,
			"Unsupported provider 'acme'. Supported: ['anthropic', 'azure_openai', 'cohere', 'deepseek', 'fireworks', 'gemini', 'groq', 'mistral', 'openai', 'openai_compatible', 'openrouter', 'together', 'xai']"},
		{"not json", `{"provider":`, 422, nil},
		{"not json either", `{"provider": x}`, 422, nil},
		{"empty body", ``, 422, []any{fe([]any{"body"}, "Field required", "missing")}},
		{"not an object", `["openai"]`, 422, []any{fe([]any{"body"}, "Input should be a valid dictionary or object to extract fields from", "model_attributes_type")}},
		{"missing and wrongly typed fields", `{"provider":1,"api_key":["sk-secret-value"]}`, 422, []any{
			fe([]any{"body", "provider"}, "Input should be a valid string", "string_type"),
			fe([]any{"body", "account_key"}, "Field required", "missing"),
			fe([]any{"body", "api_key"}, "Input should be a valid string", "string_type"),
		}},
		{"base url required", `{"provider":"azure_openai","account_key":"a"}`, 422,
			[]any{fe([]any{"body", "base_url"}, "base_url is required for provider 'azure_openai'", "missing")}},
		{"too large", `{"provider":"openai","account_key":"a","display_name":"` + strings.Repeat("x", httpapi.MaxBody) + `"}`, 413, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := a.want(t, create, "/provider-credentials", tc.body, admin, tc.status, tc.detail)
			if strings.HasPrefix(tc.name, "not json") && !strings.Contains(b, `"msg":"JSON decode error","type":"json_invalid"`) {
				t.Fatalf("invalid JSON: %s", b)
			}
			if strings.Contains(b, "sk-secret-value") {
				t.Fatalf("the error echoes the key: %s", b)
			}
		})
	}
	if b := a.want(t, httpapi.RouteList, "/provider-credentials", "", member, 200, nil); b != "[]" {
		t.Fatalf("refused creates stored something: %s", b)
	}
}

func TestWhoMayCallWhat(t *testing.T) {
	a := newAPI(t)
	id := a.create(t, `{"provider":"openai","account_key":"a"}`)["id"].(string)
	const adminOnly = "Organisation admin access required."
	for _, tc := range []struct {
		route, path, body string
	}{
		{httpapi.RouteCreate, "/provider-credentials", `{"provider":"openai","account_key":"b"}`},
		{httpapi.RouteTest, "/provider-credentials/test", `{"provider":"openai"}`},
		{httpapi.RouteUpdate, "/provider-credentials/" + id, `{"display_name":"x"}`},
		{httpapi.RouteDelete, "/provider-credentials/" + id, ``},
	} {
		a.want(t, tc.route, tc.path, tc.body, member, 403, adminOnly)
	}
	for _, tc := range []struct{ route, path string }{
		{httpapi.RouteList, "/provider-credentials"},
		{httpapi.RouteGet, "/provider-credentials/" + id},
		{httpapi.RouteCreate, "/provider-credentials"},
	} {
		a.want(t, tc.route, tc.path, `{}`, nil, 401, "Not authenticated")
		a.want(t, tc.route, tc.path, `{}`, map[string]string{"org_role": "admin"}, 403, "The token carries no organisation or role.")
		a.want(t, tc.route, tc.path, `{}`, map[string]string{"org_id": "org-a", "org_role": "[]"}, 403, "The token carries no organisation or role.")
		a.want(t, tc.route, tc.path, `{}`, map[string]string{"org_id": strings.Repeat("o", httpapi.MaxOrgID+1), "org_role": "admin"}, 403, nil)
	}
	a.want(t, httpapi.RouteGet, "/provider-credentials/"+id, "", member, 200, nil) // nothing changed
}

func TestUpdateAndDelete(t *testing.T) {
	a := newAPI(t)
	c := a.create(t, `{"provider":"openai_compatible","account_key":"a","api_key":"sk-live-1234","base_url":"https://llm.example.com/v1"}`)
	path := "/provider-credentials/" + c["id"].(string)
	var u map[string]any
	_ = json.Unmarshal([]byte(a.want(t, httpapi.RouteUpdate, path, `{"display_name":"New","active":false,"api_key":null}`, admin, 200, nil)), &u)
	if u["display_name"] != "New" || u["active"] != false || u["api_key_last_four"] != "1234" || u["updated_at"] == c["updated_at"] {
		t.Fatalf("patched %v", u)
	}
	_ = json.Unmarshal([]byte(a.want(t, httpapi.RouteUpdate, path, `{"api_key":"","base_url":""}`, admin, 200, nil)), &u)
	if u["has_api_key"] != false || u["api_key_last_four"] != nil || u["base_url"] != nil {
		t.Fatalf(`after "api_key": "", "base_url": "": %v`, u)
	}
	a.want(t, httpapi.RouteUpdate, path, `{"active":"maybe"}`, admin, 422, nil)
	a.want(t, httpapi.RouteUpdate, path, `{"display_name":5}`, admin, 422,
		[]any{fe([]any{"body", "display_name"}, "Input should be a valid string", "string_type")})
	a.want(t, httpapi.RouteUpdate, path, `{"display_name":"x"}`, other, 404, "Not Found")
	a.want(t, httpapi.RouteDelete, path, "", other, 404, "Not Found")
	if _, b := a.call(t, httpapi.RouteDelete, path, "", admin); b != "" {
		t.Fatalf("delete answered a body: %q", b)
	}
	a.want(t, httpapi.RouteDelete, path, "", admin, 404, "Not Found")
	a.want(t, httpapi.RouteGet, path, "", member, 404, "Not Found")
}

func TestDeleteAnswers204(t *testing.T) {
	a := newAPI(t)
	id := a.create(t, `{"provider":"openai","account_key":"a","api_key":"sk-live-1234"}`)["id"].(string)
	if status, _ := a.call(t, httpapi.RouteDelete, "/provider-credentials/"+id, "", admin); status != 204 {
		t.Fatalf("delete: %d, want 204", status)
	}
}

func TestUsageAndTest(t *testing.T) {
	a := newAPI(t)
	id := a.create(t, `{"provider":"openai","account_key":"a","api_key":"sk-live-1234"}`)["id"].(string)
	path := "/provider-credentials/" + id + "/usage"
	b := a.want(t, httpapi.RouteUsage, path, "", member, 200, nil)
	var r map[string]any
	if err := json.Unmarshal([]byte(b), &r); err != nil || r["reachable"] != true || r["provider"] != "openai" {
		t.Fatalf("usage %s", b)
	}
	a.want(t, httpapi.RouteUsage, path, "", member, 200, nil)
	a.want(t, httpapi.RouteUsage, path+"?refresh=TRUE", "", member, 200, nil)
	if a.prober.probes != 2 {
		t.Fatalf("%d probes, want 2 (one cached read, one refresh)", a.prober.probes)
	}
	a.want(t, httpapi.RouteUsage, path+"?refresh=maybe", "", member, 422,
		[]any{fe([]any{"query", "refresh"}, "Input should be a valid boolean, unable to interpret input", "bool_parsing")})
	a.want(t, httpapi.RouteUsage, "/provider-credentials/"+id+"/usage", "", other, 404, "Not Found")

	b = a.want(t, httpapi.RouteTest, "/provider-credentials/test", `{"provider":"anthropic","account_key":" ","api_key":"sk-ant-5678"}`, admin, 200, nil)
	if err := json.Unmarshal([]byte(b), &r); err != nil || r["account_key"] != "test" || r["reachable"] != true || strings.Contains(b, "sk-ant") {
		t.Fatalf("test %s", b)
	}
	a.want(t, httpapi.RouteTest, "/provider-credentials/test", `{"provider":"acme"}`, admin, 422, nil)
	a.want(t, httpapi.RouteTest, "/provider-credentials/test", `{"provider":"openai","base_url":"ftp://x"}`, admin, 422, nil)
}

func TestAStoreFailureIsA500ThatSaysNothing(t *testing.T) {
	a := newAPI(t)
	a.faults.Hook = func(op string) mem.Mode {
		if op == "Store.List" {
			return mem.Before
		}
		return mem.Pass
	}
	a.want(t, httpapi.RouteList, "/provider-credentials", "", member, 500, "internal error")
}
