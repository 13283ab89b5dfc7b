package gateway

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

var testCORS = &CORS{
	AllowOrigins: []string{"https://app.example.com", "http://localhost:5173"},
	AllowMethods: []string{"GET", "POST", "PATCH", "DELETE"},
	AllowHeaders: []string{"authorization", "content-type"},
	MaxAge:       600,
}

func preflightHeader(origin string) http.Header {
	return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"PATCH"},
		"Access-Control-Request-Headers": {"authorization,content-type"}}
}

var corsHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"}

// A preflight from an allowed origin is answered by the gateway, without a
// token and without invoking a function, with the configured methods,
// headers (Authorization and Content-Type among them) and max age; from
// another origin it gets no CORS headers.
func TestCORSPreflight(t *testing.T) {
	e := newEnv(t, Options{CORS: testCORS})
	resp, _ := e.do(t, "OPTIONS", "/provider-credentials/abc", "", nil, preflightHeader("https://app.example.com"))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("allowed preflight: status = %d, want 204", resp.StatusCode)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":  "https://app.example.com",
		"Access-Control-Allow-Methods": "GET,POST,PATCH,DELETE",
		"Access-Control-Allow-Headers": "authorization,content-type",
		"Access-Control-Max-Age":       "600",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("allowed preflight: %s = %q, want %q", k, got, v)
		}
	}
	if len(e.fn.events) != 0 {
		t.Errorf("a preflight invoked the function %d times, want none", len(e.fn.events))
	}

	resp, _ = e.do(t, "OPTIONS", "/provider-credentials/abc", "", nil, preflightHeader("https://evil.example.net"))
	for _, k := range corsHeaders {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("preflight from another origin: %s = %q, want none", k, v)
		}
	}

	// Without a CorsConfiguration a preflight is a request to a route that
	// does not exist, as in API Gateway.
	plain := newEnv(t, Options{})
	resp, _ = plain.do(t, "OPTIONS", "/provider-credentials/abc", "", nil, preflightHeader("https://app.example.com"))
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no CORS: preflight status %d, Allow-Origin %q; want 404 and none", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// A simple (non-preflight) response carries Access-Control-Allow-Origin
// only for an allowed origin, never the function's own CORS headers, and
// the gateway's own answers (401) carry it too.
func TestCORSOnResponses(t *testing.T) {
	e := newEnv(t, Options{CORS: testCORS})
	e.fn.fixed = true
	e.fn.resp = events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}",
		Headers: map[string]string{"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"}}
	for _, tc := range []struct {
		name, origin, auth, want string
		status                   int
	}{
		{"allowed origin", "http://localhost:5173", "Bearer " + e.token, "http://localhost:5173", 200},
		{"other origin", "https://evil.example.net", "Bearer " + e.token, "", 200},
		{"no origin", "", "Bearer " + e.token, "", 200},
		{"allowed origin, no token", "https://app.example.com", "", "https://app.example.com", 401},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		resp, _ := e.do(t, "GET", "/provider-credentials", tc.auth, nil, hdr)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status = %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if got := resp.Header.Values("Access-Control-Allow-Origin"); !reflect.DeepEqual(got, nonEmpty(tc.want)) {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", tc.name, got, nonEmpty(tc.want))
		}
	}
	if got := ParseOrigins(" https://a.example.com, ,http://localhost:3000 "); !reflect.DeepEqual(got, []string{"https://a.example.com", "http://localhost:3000"}) {
		t.Errorf("ParseOrigins = %q", got)
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
