package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/dev/authn"
)

var discard = slog.New(slog.DiscardHandler)

// recorder is a fake function that remembers the events it got.
type recorder struct {
	mu     sync.Mutex
	events []events.APIGatewayV2HTTPRequest
	fixed  bool // return resp and err instead of a 200 naming the route
	resp   events.APIGatewayV2HTTPResponse
	err    error
}

func (f *recorder) invoke(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	if f.fixed {
		return f.resp, f.err
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: `{"route":"` + ev.RouteKey + `"}`}, nil
}

func (f *recorder) last(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.events) == 0 {
		t.Fatal("function not invoked, want one invocation")
	}
	return f.events[len(f.events)-1]
}

type env struct {
	dev   *authn.DevIssuer
	fn    *recorder
	srv   *httptest.Server
	token string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	dev, err := authn.NewDevIssuer()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dev: dev, fn: &recorder{}}
	var routes []Route
	for _, r := range []string{
		"GET /provider-credentials",
		"POST /provider-credentials",
		"POST /provider-credentials/test",
		"GET /provider-credentials/{credential_id}",
		"PATCH /provider-credentials/{credential_id}",
		"DELETE /provider-credentials/{credential_id}",
		"GET /provider-credentials/{credential_id}/usage",
		"ANY /files/{proxy+}",
		"GET /files/{proxy+}",
	} {
		m, p, _ := strings.Cut(r, " ")
		routes = append(routes, Route{Method: m, Path: p, Invoke: e.fn.invoke})
	}
	if opts.Logger == nil {
		opts.Logger = discard
	}
	h, err := New(routes, dev.Verifier(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.token = e.sign(t, nil)
	return e
}

func (e *env) sign(t *testing.T, mod func(map[string]any)) string {
	t.Helper()
	c := authn.DevClaims("dev-user", time.Hour, time.Now())
	c["org_id"] = "org-a"
	c["org_role"] = []string{"admin", "billing"}
	c["scope"] = "credentials:read credentials:write"
	if mod != nil {
		mod(c)
	}
	tok, err := e.dev.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) do(t *testing.T, method, path, auth string, body io.Reader, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestRouting(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		method, path string
		wantStatus   int
		wantRoute    string
		wantParams   map[string]string
	}{
		{"GET", "/provider-credentials", 200, "GET /provider-credentials", nil},
		{"POST", "/provider-credentials", 200, "POST /provider-credentials", nil},
		{"POST", "/provider-credentials/test", 200, "POST /provider-credentials/test", nil},
		{"PATCH", "/provider-credentials/test", 200, "PATCH /provider-credentials/{credential_id}", map[string]string{"credential_id": "test"}},
		{"GET", "/provider-credentials/8f1c", 200, "GET /provider-credentials/{credential_id}", map[string]string{"credential_id": "8f1c"}},
		{"GET", "/provider-credentials/a%20b", 200, "GET /provider-credentials/{credential_id}", map[string]string{"credential_id": "a b"}},
		{"GET", "/provider-credentials/8f1c/usage", 200, "GET /provider-credentials/{credential_id}/usage", map[string]string{"credential_id": "8f1c"}},
		{"GET", "/files/a/b/c", 200, "GET /files/{proxy+}", map[string]string{"proxy": "a/b/c"}},
		{"PUT", "/files/x", 200, "ANY /files/{proxy+}", map[string]string{"proxy": "x"}},
		{"PUT", "/provider-credentials", 404, "", nil},
		{"HEAD", "/provider-credentials", 404, "", nil},
		{"GET", "/provider-credentials/", 404, "", nil},
		{"GET", "/provider-credentials/8f1c/usage/x", 404, "", nil},
		{"GET", "/files", 404, "", nil},
		{"GET", "/nope", 404, "", nil},
		{"GET", "/", 404, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			e.fn.events = nil
			resp, body := e.do(t, tt.method, tt.path, "Bearer "+e.token, nil, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 404 {
				if tt.method != "HEAD" && string(body) != `{"message":"Not Found"}` {
					t.Errorf("body = %s, want {\"message\":\"Not Found\"}", body)
				}
				if len(e.fn.events) != 0 {
					t.Errorf("function invoked %d times, want 0", len(e.fn.events))
				}
				return
			}
			ev := e.fn.last(t)
			if ev.RouteKey != tt.wantRoute || ev.RequestContext.RouteKey != tt.wantRoute {
				t.Errorf("routeKey = %q / %q, want %q", ev.RouteKey, ev.RequestContext.RouteKey, tt.wantRoute)
			}
			if !reflect.DeepEqual(ev.PathParameters, tt.wantParams) {
				t.Errorf("pathParameters = %v, want %v", ev.PathParameters, tt.wantParams)
			}
			if ev.RawPath != tt.path {
				t.Errorf("rawPath = %q, want %q", ev.RawPath, tt.path)
			}
		})
	}
	t.Run("404 without a token", func(t *testing.T) {
		resp, _ := e.do(t, "GET", "/nope", "", nil, nil)
		if resp.StatusCode != 404 {
			t.Errorf("status = %d, want 404", resp.StatusCode)
		}
	})
}

func TestUnauthorized(t *testing.T) {
	e := newEnv(t, Options{})
	parts := strings.Split(e.token, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + string(sig)
	tests := []struct {
		name, auth string
	}{
		{"missing", ""},
		{"basic scheme", "Basic dXNlcjpwYXNz"},
		{"no scheme", e.token},
		{"empty bearer", "Bearer "},
		{"malformed", "Bearer not.a.jwt"},
		{"bad signature", "Bearer " + badSig},
		{"expired", "Bearer " + e.sign(t, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{"wrong audience", "Bearer " + e.sign(t, func(c map[string]any) { c["aud"] = "prod" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fn.events = nil
			resp, body := e.do(t, "GET", "/provider-credentials", tt.auth, nil, nil)
			if resp.StatusCode != 401 || string(body) != `{"message":"Unauthorized"}` {
				t.Errorf("got %d %s, want 401 {\"message\":\"Unauthorized\"}", resp.StatusCode, body)
			}
			if len(e.fn.events) != 0 {
				t.Errorf("function invoked %d times, want 0", len(e.fn.events))
			}
		})
	}
	t.Run("lower-case bearer accepted", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/provider-credentials", "bearer "+e.token, nil, nil)
		if resp.StatusCode != 200 {
			t.Errorf("status = %d, want 200 (body %s)", resp.StatusCode, body)
		}
	})
}

func TestEvent(t *testing.T) {
	e := newEnv(t, Options{})
	hdr := http.Header{
		"X-Multi":    {"a", "b"},
		"User-Agent": {"test-agent/1"},
		"Cookie":     {"c1=v1; c2=v2"},
	}
	before := time.Now()
	resp, body := e.do(t, "GET", "/provider-credentials/id%2F1/usage?refresh=true&a=1&a=2&q=x%20y&plus=a+b", "Bearer "+e.token, nil, hdr)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
	}
	ev := e.fn.last(t)
	rc := ev.RequestContext
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"rawPath", ev.RawPath, "/provider-credentials/id%2F1/usage"},
		{"rawQueryString", ev.RawQueryString, "refresh=true&a=1&a=2&q=x%20y&plus=a+b"},
		{"queryStringParameters", ev.QueryStringParameters, map[string]string{"refresh": "true", "a": "1,2", "q": "x y", "plus": "a b"}},
		{"pathParameters", ev.PathParameters, map[string]string{"credential_id": "id/1"}},
		{"cookies", ev.Cookies, []string{"c1=v1", "c2=v2"}},
		{"x-multi header", ev.Headers["x-multi"], "a,b"},
		{"authorization header", ev.Headers["authorization"], "Bearer " + e.token},
		{"cookie header removed", ev.Headers["cookie"], ""},
		{"host header", ev.Headers["host"], strings.TrimPrefix(e.srv.URL, "http://")},
		{"x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http"},
		{"accountId", rc.AccountID, "123456789012"},
		{"apiId", rc.APIID, "local"},
		{"stage", rc.Stage, "$default"},
		{"domainName", rc.DomainName, strings.TrimPrefix(e.srv.URL, "http://")},
		{"domainPrefix", rc.DomainPrefix, "127"},
		{"http.method", rc.HTTP.Method, "GET"},
		{"http.path", rc.HTTP.Path, "/provider-credentials/id%2F1/usage"},
		{"http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
		{"http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1"},
		{"http.userAgent", rc.HTTP.UserAgent, "test-agent/1"},
		{"requestId header", resp.Header.Get("Apigw-Requestid"), rc.RequestID},
		{"requestId length", len(rc.RequestID), 16},
		{"claims.org_id", rc.Authorizer.JWT.Claims["org_id"], "org-a"},
		{"claims.org_role", rc.Authorizer.JWT.Claims["org_role"], "[admin billing]"},
		{"claims.iss", rc.Authorizer.JWT.Claims["iss"], authn.DevIssuerURL},
		{"scopes", rc.Authorizer.JWT.Scopes, []string{"credentials:read", "credentials:write"}},
		{"body", ev.Body, ""},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
	t.Run("time", func(t *testing.T) {
		if rc.TimeEpoch < before.UnixMilli() || rc.TimeEpoch > time.Now().UnixMilli() {
			t.Errorf("timeEpoch = %d, want between %d and now", rc.TimeEpoch, before.UnixMilli())
		}
		parsed, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time)
		if err != nil || parsed.Unix() != rc.TimeEpoch/1000 {
			t.Errorf("time = %q (%v), want the timeEpoch second in API Gateway's format", rc.Time, err)
		}
	})
	t.Run("claims numbers", func(t *testing.T) {
		if exp := rc.Authorizer.JWT.Claims["exp"]; len(exp) != 10 || strings.ContainsAny(exp, ".e") {
			t.Errorf("claims.exp = %q, want 10 decimal digits", exp)
		}
	})
	t.Run("no query", func(t *testing.T) {
		e.do(t, "GET", "/provider-credentials", "Bearer "+e.token, nil, nil)
		if ev := e.fn.last(t); ev.QueryStringParameters != nil || ev.PathParameters != nil || ev.Cookies != nil {
			t.Errorf("query, path params, cookies = %v, %v, %v; want all nil", ev.QueryStringParameters, ev.PathParameters, ev.Cookies)
		}
	})
}

func TestBody(t *testing.T) {
	e := newEnv(t, Options{MaxBodyBytes: 64})
	binary := []byte{0xff, 0x00, 0xfe, 'a', 0x80}
	tests := []struct {
		name       string
		body       []byte
		wantStatus int
		wantBody   string
		wantB64    bool
	}{
		{"json", []byte(`{"provider":"openai"}`), 200, `{"provider":"openai"}`, false},
		{"binary", binary, 200, base64.StdEncoding.EncodeToString(binary), true},
		{"at the limit", bytes.Repeat([]byte("a"), 64), 200, strings.Repeat("a", 64), false},
		{"over the limit", bytes.Repeat([]byte("a"), 65), 413, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fn.events = nil
			resp, body := e.do(t, "POST", "/provider-credentials", "Bearer "+e.token, bytes.NewReader(tt.body), nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 413 {
				if string(body) != `{"message":"Request Entity Too Large"}` {
					t.Errorf("body = %s, want {\"message\":\"Request Entity Too Large\"}", body)
				}
				if len(e.fn.events) != 0 {
					t.Errorf("function invoked %d times, want 0", len(e.fn.events))
				}
				return
			}
			ev := e.fn.last(t)
			if ev.Body != tt.wantBody || ev.IsBase64Encoded != tt.wantB64 {
				t.Errorf("body = %q (base64 %v), want %q (base64 %v)", ev.Body, ev.IsBase64Encoded, tt.wantBody, tt.wantB64)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	binary := []byte{0x89, 'P', 'N', 'G', 0x00, 0xff}
	tests := []struct {
		name       string
		resp       events.APIGatewayV2HTTPResponse
		err        error
		wantStatus int
		wantBody   []byte
		wantHeader http.Header
	}{
		{"plain", events.APIGatewayV2HTTPResponse{StatusCode: 201, Body: `{"id":"1"}`, Headers: map[string]string{"Content-Type": "application/json"}},
			nil, 201, []byte(`{"id":"1"}`), http.Header{"Content-Type": {"application/json"}}},
		{"base64", events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: base64.StdEncoding.EncodeToString(binary), IsBase64Encoded: true, Headers: map[string]string{"content-type": "image/png"}},
			nil, 200, binary, http.Header{"Content-Type": {"image/png"}}},
		{"no content", events.APIGatewayV2HTTPResponse{StatusCode: 204}, nil, 204, nil, nil},
		{"cookies and multi-value headers", events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "ok",
			Cookies: []string{"a=1; Path=/", "b=2"}, MultiValueHeaders: map[string][]string{"X-Multi": {"1", "2"}}},
			nil, 200, []byte("ok"), http.Header{"Set-Cookie": {"a=1; Path=/", "b=2"}, "X-Multi": {"1", "2"}}},
		{"function error", events.APIGatewayV2HTTPResponse{}, errors.New("boom"), 500, []byte(`{"message":"Internal Server Error"}`), nil},
		{"status 0", events.APIGatewayV2HTTPResponse{Body: "x"}, nil, 500, []byte(`{"message":"Internal Server Error"}`), nil},
		{"bad base64", events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "!!", IsBase64Encoded: true}, nil, 500, []byte(`{"message":"Internal Server Error"}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.fn.fixed, e.fn.resp, e.fn.err = true, tt.resp, tt.err
			resp, body := e.do(t, "GET", "/provider-credentials", "Bearer "+e.token, nil, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			for k, want := range tt.wantHeader {
				if got := resp.Header.Values(k); !reflect.DeepEqual(got, want) {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	dev, _ := authn.NewDevIssuer()
	tok, _ := dev.Sign(authn.DevClaims("u", time.Hour, time.Now()))
	release := make(chan struct{})
	defer close(release)
	slow := func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		<-release // ignores ctx, like a stuck function
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
	h, err := New([]Route{{"GET", "/slow", slow}}, dev.Verifier(), Options{Logger: discard, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/slow", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Body.String() != `{"message":"Service Unavailable"}` {
		t.Errorf("got %d %s, want 503 {\"message\":\"Service Unavailable\"}", rec.Code, rec.Body)
	}
}

func TestNewErrors(t *testing.T) {
	ok := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{}, nil
	}
	dev, _ := authn.NewDevIssuer()
	tests := []struct {
		name   string
		routes []Route
	}{
		{"same shape", []Route{{"GET", "/a/{x}", ok}, {"GET", "/a/{y}", ok}}},
		{"greedy not last", []Route{{"GET", "/a/{p+}/b", ok}}},
		{"no leading slash", []Route{{"GET", "a", ok}}},
		{"nil invoke", []Route{{"GET", "/a", nil}}},
		{"empty method", []Route{{"", "/a", ok}}},
		{"bad segment", []Route{{"GET", "/a{x}", ok}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.routes, dev.Verifier(), Options{}); err == nil {
				t.Errorf("New: got no error, want one")
			}
		})
	}
	if _, err := New(nil, nil, Options{}); err == nil {
		t.Errorf("New with nil verifier: got no error, want one")
	}
}

// The event must survive a JSON round trip as Lambda would see it.
func TestEventJSON(t *testing.T) {
	e := newEnv(t, Options{})
	e.do(t, "GET", "/provider-credentials?x=1", "Bearer "+e.token, nil, nil)
	b, err := json.Marshal(e.fn.last(t))
	if err != nil {
		t.Fatal(err)
	}
	var back events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal event: %v", err)
	}
	if back.RequestContext.Authorizer.JWT.Claims["org_id"] != "org-a" {
		t.Errorf("claims after round trip = %v, want org_id org-a", back.RequestContext.Authorizer.JWT.Claims)
	}
}
