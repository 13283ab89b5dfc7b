// Package gateway emulates an API Gateway HTTP API (payload format 2.0,
// $default stage, a JWT authorizer on every route) in front of Lambda
// handlers, so that one local process serves every route as AWS would.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/dev/authn"
)

// Invoker runs one Lambda function on an event, for example
// httpadapter.NewV2(h).ProxyWithContext.
type Invoker func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Route is one API route. Method is an HTTP method or "ANY"; Path is in API
// Gateway syntax: /provider-credentials/{credential_id}, /files/{proxy+}.
type Route struct {
	Method, Path string
	Invoke       Invoker
}

const (
	// DefaultMaxBodyBytes is API Gateway HTTP API's payload limit (10 MB).
	DefaultMaxBodyBytes = 10 << 20
	// DefaultTimeout is API Gateway HTTP API's maximum integration timeout.
	DefaultTimeout = 30 * time.Second

	accountID = "123456789012"
	apiID     = "local"
	stage     = "$default"
)

// Options tune the gateway. The zero value is valid.
type Options struct {
	Logger       *slog.Logger  // default slog.Default()
	MaxBodyBytes int64         // default DefaultMaxBodyBytes; larger bodies get 413
	Timeout      time.Duration // integration timeout, default DefaultTimeout; past it, 503
	CORS         *CORS         // the API's CorsConfiguration; nil: none (a preflight gets 404, as it has no route)
}

type gateway struct {
	routes  []route
	auth    authn.Verifier
	log     *slog.Logger
	maxBody int64
	timeout time.Duration
	cors    *CORS
}

// New returns an http.Handler that routes requests as API Gateway does,
// rejects those without a valid bearer token (401, checked by v), turns the
// others into payload 2.0 events for the route's Invoker and its responses
// back into HTTP.
func New(routes []Route, v authn.Verifier, opts Options) (http.Handler, error) {
	if v == nil {
		return nil, errors.New("gateway: nil Verifier")
	}
	g := &gateway{auth: v, log: opts.Logger, maxBody: opts.MaxBodyBytes, timeout: opts.Timeout, cors: opts.CORS}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.maxBody <= 0 {
		g.maxBody = DefaultMaxBodyBytes
	}
	if g.timeout <= 0 {
		g.timeout = DefaultTimeout
	}
	seen := map[string]string{}
	for _, r := range routes {
		pr, err := parseRoute(r)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[pr.shape()]; ok {
			return nil, fmt.Errorf("gateway: route %s conflicts with %s", pr.routeKey, prev)
		}
		seen[pr.shape()] = pr.routeKey
		g.routes = append(g.routes, pr)
	}
	return g, nil
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := requestID()
	w.Header().Set("Apigw-Requestid", reqID)
	var status int
	var routeKey string
	switch {
	case g.cors != nil && isPreflight(r):
		status = g.cors.preflight(w, r)
	case g.cors != nil:
		status, routeKey = g.serve(&corsWriter{ResponseWriter: w, allow: g.cors.allowed(r.Header.Get("Origin"))}, r, reqID, start)
	default:
		status, routeKey = g.serve(w, r, reqID, start)
	}
	g.log.Info("gateway", "method", r.Method, "path", r.URL.Path, "route", routeKey,
		"status", status, "requestId", reqID, "duration", time.Since(start))
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request, reqID string, start time.Time) (int, string) {
	rawPath := r.URL.EscapedPath()
	rt, params, ok := g.match(r.Method, rawPath)
	if !ok {
		return writeMessage(w, http.StatusNotFound, "Not Found"), ""
	}
	claims, err := g.authorize(r)
	if err != nil {
		g.log.Info("gateway: unauthorized", "route", rt.routeKey, "requestId", reqID, "err", err)
		w.Header().Set("Www-Authenticate", `Bearer error="invalid_token"`)
		return writeMessage(w, http.StatusUnauthorized, "Unauthorized"), rt.routeKey
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.maxBody+1))
	if err != nil {
		g.log.Info("gateway: read body", "route", rt.routeKey, "requestId", reqID, "err", err)
		return writeMessage(w, http.StatusBadRequest, "Bad Request"), rt.routeKey
	}
	if int64(len(body)) > g.maxBody {
		return writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large"), rt.routeKey
	}
	ev := buildEvent(r, rt, rawPath, params, claims, body, reqID, start)

	resp, err := g.invoke(r.Context(), rt, ev)
	if errors.Is(err, context.DeadlineExceeded) {
		g.log.Error("gateway: integration timeout", "route", rt.routeKey, "requestId", reqID, "timeout", g.timeout)
		return writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable"), rt.routeKey
	}
	if err != nil {
		g.log.Error("gateway: function error", "route", rt.routeKey, "requestId", reqID, "err", err)
		return writeMessage(w, http.StatusInternalServerError, "Internal Server Error"), rt.routeKey
	}
	if err := writeResponse(w, resp); err != nil {
		g.log.Error("gateway: bad function response", "route", rt.routeKey, "requestId", reqID, "err", err)
		return writeMessage(w, http.StatusInternalServerError, "Internal Server Error"), rt.routeKey
	}
	return resp.StatusCode, rt.routeKey
}

func (g *gateway) match(method, rawPath string) (route, map[string]string, bool) {
	var best route
	var bestParams map[string]string
	found := false
	for _, rt := range g.routes {
		if rt.method != method && rt.method != "ANY" {
			continue
		}
		params, ok := rt.match(rawPath)
		if !ok {
			continue
		}
		if !found || moreSpecific(rt, best) {
			best, bestParams, found = rt, params, true
		}
	}
	return best, bestParams, found
}

// authorize checks "Authorization: Bearer <jwt>" (scheme case-insensitive).
func (g *gateway) authorize(r *http.Request) (authn.Claims, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return nil, errors.New("no Authorization header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, errors.New("the Authorization header is not a Bearer token")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errors.New("empty bearer token")
	}
	return g.auth.Verify(r.Context(), token)
}

// invoke runs the function with the integration timeout. A function that
// ignores its context is abandoned when the timeout passes, as API Gateway
// stops waiting for a slow Lambda.
func (g *gateway) invoke(ctx context.Context, rt route, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	type result struct {
		resp events.APIGatewayV2HTTPResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("panic: %v", p)}
			}
		}()
		resp, err := rt.invoke(ctx, ev)
		done <- result{resp, err}
	}()
	select {
	case res := <-done:
		return res.resp, res.err
	case <-ctx.Done():
		return events.APIGatewayV2HTTPResponse{}, ctx.Err()
	}
}

// writeResponse turns a payload 2.0 response into HTTP.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return fmt.Errorf("status code %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("isBase64Encoded body: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		if _, ok := resp.MultiValueHeaders[k]; !ok {
			h.Set(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	if len(body) > 0 {
		_, _ = w.Write(body) // a failed write is the client gone; nothing to tell it
	}
	return nil
}

// writeMessage writes API Gateway's own error shape: {"message":"..."}.
func writeMessage(w http.ResponseWriter, status int, msg string) int {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}

// requestID looks like API Gateway's: 15 base64 characters and "=".
func requestID() string {
	b := make([]byte, 11)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// buildEvent makes the payload 2.0 event API Gateway would send.
func buildEvent(r *http.Request, rt route, rawPath string, params map[string]string, claims authn.Claims, body []byte, reqID string, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		name := strings.ToLower(k)
		if name == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[name] = strings.Join(vs, ",")
	}
	headers["host"] = r.Host
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		port = p
	}
	headers["x-forwarded-proto"] = proto
	headers["x-forwarded-port"] = port
	headers["x-amzn-trace-id"] = traceID(now)
	if len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}

	var query map[string]string
	if r.URL.RawQuery != "" {
		values := r.URL.Query() // keeps the order of repeated keys
		query = make(map[string]string, len(values))
		for k, vs := range values {
			query[k] = strings.Join(vs, ",")
		}
	}

	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	prefix, _, _ := strings.Cut(host, ".")

	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              rt.routeKey,
		RawPath:               rawPath,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     rt.routeKey,
			AccountID:    accountID,
			Stage:        stage,
			RequestID:    reqID,
			APIID:        apiID,
			DomainName:   r.Host,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      rawPath,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: authn.FlattenClaims(claims),
					Scopes: authn.Scopes(claims),
				},
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// traceID looks like an X-Ray trace header: Root=1-<epoch hex>-<24 hex>.
func traceID(now time.Time) string {
	b := make([]byte, 12)
	rand.Read(b)
	return fmt.Sprintf("Root=1-%08x-%x", now.Unix(), b)
}
