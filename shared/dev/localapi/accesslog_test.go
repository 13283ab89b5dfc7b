package localapi_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every request that reaches a function leaves exactly one line in the
// local stack's log, the access line: API Gateway's request id, the route,
// the caller's organisation, the status, the duration, the AWS calls made
// (as many as the SDK saw) and, for a failure, the error; never the key.
func TestOneLogLinePerRequest(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-a", "admin")
	member := h.token("org-a", "member")
	const list, create, get = "GET /provider-credentials", "POST /provider-credentials", "GET /provider-credentials/{credential_id}"

	var c credential
	cases := []struct {
		name, method, path, token string
		body                      any
		failAt                    int // an AWS call to fail: the 5xx case
		route, org                string
		status                    int
	}{
		{name: "create", method: "POST", path: "/provider-credentials", token: admin,
			body: map[string]any{"provider": "openai", "account_key": "default", "api_key": testKey}, route: create, org: "org-a", status: 201},
		{name: "list", method: "GET", path: "/provider-credentials", token: member, route: list, org: "org-a", status: 200},
		{name: "get", method: "GET", path: "/provider-credentials/{id}", token: member, route: get, org: "org-a", status: 200},
		{name: "not found", method: "GET", path: "/provider-credentials/00000000-0000-4000-8000-000000000000", token: member, route: get, org: "org-a", status: 404},
		{name: "bad id", method: "GET", path: "/provider-credentials/nope", token: member, route: get, org: "org-a", status: 422},
		{name: "member on an admin route", method: "POST", path: "/provider-credentials", token: member,
			body: map[string]any{"provider": "groq", "account_key": "k"}, route: create, org: "org-a", status: 403},
		{name: "no org claim", method: "GET", path: "/provider-credentials", token: h.tokenWith(map[string]any{"org_role": "admin"}), route: list, status: 403},
		{name: "duplicate", method: "POST", path: "/provider-credentials", token: admin,
			body: map[string]any{"provider": "openai", "account_key": "default", "api_key": testKey}, route: create, org: "org-a", status: 409},
		{name: "storage fails", method: "GET", path: "/provider-credentials", token: member, failAt: 1, route: list, org: "org-a", status: 500},
	}
	for _, tc := range cases {
		before := len(h.log.String())
		h.env.Calls.Reset()
		if tc.failAt > 0 {
			h.env.Calls.FailAt(tc.failAt)
		}
		path := strings.ReplaceAll(tc.path, "{id}", c.ID)
		r := h.do(tc.method, path, tc.token, tc.body)
		if tc.name == "create" {
			r.json(t, &c)
		}
		calls := len(h.env.Calls.Ops())
		if tc.status == 500 && r.status == 503 {
			tc.status = 503 // a dependency's failure may be answered as unavailable
		}
		if r.status != tc.status {
			t.Errorf("%s: status = %d, want %d; body %s", tc.name, r.status, tc.status, r.body)
		}
		added := h.log.String()[before:]
		if strings.Contains(added, testKey) || strings.Contains(added, testKey[:len(testKey)-4]) {
			t.Errorf("%s: the log holds the key:\n%s", tc.name, added)
		}
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(added), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%s: log line %q is not JSON: %v", tc.name, l, err)
			}
			if msg, _ := m["msg"].(string); !strings.HasPrefix(msg, "gateway") { // the gateway's own line is API Gateway's
				lines = append(lines, m)
			}
		}
		if len(lines) != 1 {
			t.Errorf("%s: the function logged %d lines, want exactly 1:\n%s", tc.name, len(lines), added)
			continue
		}
		l := lines[0]
		want := map[string]any{
			"msg": "request", "api_request_id": r.header.Get("Apigw-Requestid"), "route": tc.route,
			"org_id": tc.org, "status": float64(r.status), "aws_calls": float64(calls),
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("%s: %s = %v, want %v; line %v", tc.name, k, l[k], v, l)
			}
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("%s: duration_ms = %v, want a duration", tc.name, l["duration_ms"])
		}
		if a, _ := l["aws_attempts"].(float64); a < float64(calls) && tc.failAt == 0 {
			t.Errorf("%s: aws_attempts = %v, want at least the %d calls", tc.name, l["aws_attempts"], calls)
		}
		errText, hasErr := l["err"].(string)
		if hasErr != (r.status >= 400) {
			t.Errorf("%s: err = %v with status %d; want an error exactly on a failure", tc.name, l["err"], r.status)
		}
		if r.status >= 500 && !strings.Contains(errText, "injected fault") {
			t.Errorf("%s: err = %q, want the internal error chain", tc.name, errText)
		}
		if wantLevel := map[bool]string{true: "ERROR", false: "INFO"}[r.status >= 500]; l["level"] != wantLevel {
			t.Errorf("%s: level = %v, want %s", tc.name, l["level"], wantLevel)
		}
	}

	// A request API Gateway refuses never reaches a function: no line of its own.
	before := len(h.log.String())
	if r := h.do("GET", "/provider-credentials", "", nil); r.status != 401 {
		t.Fatalf("no token: status = %d, want 401", r.status)
	}
	for _, l := range strings.Split(strings.TrimSpace(h.log.String()[before:]), "\n") {
		if !strings.Contains(l, `"msg":"gateway`) {
			t.Errorf("a 401 from the gateway left a function line: %s", l)
		}
	}
}
