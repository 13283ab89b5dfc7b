package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/acme/provider-credentials/shared/credentials"
)

func event(route, path string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	method, _, _ := strings.Cut(route, " ")
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: route, RawPath: path,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "apigw-req-1", RouteKey: route, Stage: "$default",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}},
		},
	}
}

// One line per request, whatever the outcome, with the error folded in:
// the internal chain of a 500 (never its body), the reason of a 4xx.
func TestAccessLogOneLinePerRequest(t *testing.T) {
	auth := Auth{OrgClaim: "org_id", RoleClaim: "org_role", AdminRoles: []string{"admin"}}
	cause := errors.New("dynamo: get: connection reset")
	for _, tc := range []struct {
		name   string
		admin  bool
		claims map[string]string
		fn     handlerFunc
		status int
		org    string
		err    string
		level  string
	}{
		{"ok", false, map[string]string{"org_id": "org-a", "org_role": "member"},
			func(w http.ResponseWriter, r *http.Request, c Caller) error {
				writeJSON(w, 200, map[string]string{})
				return nil
			},
			200, "org-a", "", "INFO"},
		{"internal", false, map[string]string{"org_id": "org-a", "org_role": "member"},
			func(w http.ResponseWriter, r *http.Request, c Caller) error { return fmt.Errorf("list: %w", cause) },
			500, "org-a", "list: dynamo: get: connection reset", "ERROR"},
		{"not found", false, map[string]string{"org_id": "org-a", "org_role": "member"},
			func(w http.ResponseWriter, r *http.Request, c Caller) error { return credentials.ErrNotFound() },
			404, "org-a", "Not Found", "INFO"},
		{"member on an admin route", true, map[string]string{"org_id": "org-b", "org_role": "member"},
			func(w http.ResponseWriter, r *http.Request, c Caller) error { return nil },
			403, "org-b", "Organisation admin access required.", "INFO"},
		{"no org", false, map[string]string{"org_role": "member"},
			func(w http.ResponseWriter, r *http.Request, c Caller) error { return nil },
			403, "", "The token carries no organisation or role.", "INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			h := AccessLog(log, serve(log, auth, RouteList, tc.admin, tc.fn))
			resp, err := httpadapter.NewV2(h).ProxyWithContext(context.Background(), event(RouteList, "/provider-credentials", tc.claims))
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("response %d, %v; want %d", resp.StatusCode, err, tc.status)
			}
			if strings.Contains(resp.Body, "connection reset") {
				t.Errorf("the internal error reached the body: %s", resp.Body)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1:\n%s", len(lines), buf.String())
			}
			var l map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"msg": "request", "api_request_id": "apigw-req-1", "route": RouteList, "org_id": tc.org,
				"status": float64(tc.status), "aws_calls": float64(0), "aws_attempts": float64(0), "level": tc.level}
			for k, v := range want {
				if l[k] != v {
					t.Errorf("%s = %v, want %v", k, l[k], v)
				}
			}
			if got, _ := l["err"].(string); got != tc.err {
				t.Errorf("err = %q, want %q", got, tc.err)
			}
			if _, ok := l["duration_ms"].(float64); !ok {
				t.Errorf("duration_ms = %v, want a number", l["duration_ms"])
			}
		})
	}
}

// A handler used without AccessLog (a tool, a test) still logs its
// internal errors, on a line of their own.
func TestInternalErrorLoggedWithoutAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := serve(log, Auth{OrgClaim: "org_id", RoleClaim: "org_role"}, RouteList, false,
		func(w http.ResponseWriter, r *http.Request, c Caller) error { return errors.New("boom") })
	resp, err := httpadapter.NewV2(h).ProxyWithContext(context.Background(), event(RouteList, "/provider-credentials", map[string]string{"org_id": "o", "org_role": "m"}))
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("response %d, %v; want 500", resp.StatusCode, err)
	}
	if !strings.Contains(buf.String(), `"msg":"request failed"`) || !strings.Contains(buf.String(), "boom") {
		t.Errorf("log = %s, want the internal error", buf.String())
	}
}

// What a request's services log (a failed compensation, say) goes into
// its one access line, raising its level; after the line is written, a
// log goes out on its own.
func TestServiceLogsFoldIntoTheAccessLine(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, nil))
	services := slog.New(FoldLogs(base.Handler())).With("component", "credentials")
	auth := Auth{OrgClaim: "org_id", RoleClaim: "org_role", AdminRoles: []string{"admin"}}
	var after context.Context
	h := AccessLog(base, serve(services, auth, RouteList, false, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		services.WarnContext(r.Context(), "compensation failed", "action", "restore secret", "secret", "p/org-a/c1")
		services.DebugContext(r.Context(), "below the handler's level")
		after = r.Context()
		writeJSON(w, 200, map[string]string{})
		return nil
	}))
	resp, err := httpadapter.NewV2(h).ProxyWithContext(context.Background(), event(RouteList, "/provider-credentials", map[string]string{"org_id": "org-a", "org_role": "member"}))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response %d, %v; want 200", resp.StatusCode, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want 1:\n%s", len(lines), buf.String())
	}
	var l struct {
		Level  string   `json:"level"`
		Msg    string   `json:"msg"`
		Logged []string `json:"logged"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
		t.Fatal(err)
	}
	want := "WARN compensation failed component=credentials action=restore secret secret=p/org-a/c1"
	if l.Msg != "request" || l.Level != "WARN" || len(l.Logged) != 1 || l.Logged[0] != want {
		t.Fatalf("line = %+v; want the request line at WARN with logged [%q]", l, want)
	}
	services.InfoContext(after, "late, after the line")
	if !strings.Contains(buf.String(), `"msg":"late, after the line"`) {
		t.Errorf("a log after the access line was swallowed: %s", buf.String())
	}
}

// A panicking handler (a bug) still leaves its one line, at ERROR with
// status 500 and what its services logged, and the panic goes on.
func TestAccessLineOnPanic(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, nil))
	services := slog.New(FoldLogs(base.Handler()))
	h := AccessLog(base, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		services.WarnContext(r.Context(), "compensation failed", "secret", "p/org-a/c1")
		panic("nil map")
	}))
	func() {
		defer func() {
			if p := recover(); p != "nil map" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		_, _ = httpadapter.NewV2(h).ProxyWithContext(context.Background(), event(RouteList, "/provider-credentials", nil))
	}()
	var l struct {
		Level  string   `json:"level"`
		Status int      `json:"status"`
		Err    string   `json:"err"`
		Logged []string `json:"logged"`
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &l) != nil {
		t.Fatalf("logged %q, want one line", buf.String())
	}
	if l.Level != "ERROR" || l.Status != 500 || l.Err != "panic: nil map" || len(l.Logged) != 1 {
		t.Fatalf("line %+v; want ERROR, 500, the panic and the folded warning", l)
	}
}
