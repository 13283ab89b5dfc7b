package bench

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Request is one API call as a client makes it.
type Request struct {
	Method string
	Path   string // raw path, with the query after "?" if any
	Body   string // JSON, or ""
	Org    string
	Role   string
}

// Event returns the payload 2.0 event API Gateway's HTTP API sends for r
// after its JWT authorizer has verified the token: the headers a browser
// or SDK client sends, the bearer token itself, and the token's claims as
// strings in requestContext.authorizer.jwt.
func Event(r Request, now time.Time) events.APIGatewayV2HTTPRequest {
	path, query, _ := strings.Cut(r.Path, "?")
	routeKey := r.Method + " " + routeOf(path)
	headers := map[string]string{
		"accept":            "application/json",
		"accept-encoding":   "gzip, deflate, br",
		"authorization":     "Bearer " + fakeJWT,
		"host":              "abc123defg.execute-api.us-east-1.amazonaws.com",
		"user-agent":        "python-httpx/0.27.0",
		"x-amzn-trace-id":   fmt.Sprintf("Root=1-%08x-0123456789abcdef01234567", now.Unix()),
		"x-forwarded-for":   "203.0.113.7",
		"x-forwarded-port":  "443",
		"x-forwarded-proto": "https",
	}
	if r.Body != "" {
		headers["content-type"] = "application/json"
		headers["content-length"] = strconv.Itoa(len(r.Body))
	}
	var qs map[string]string
	if query != "" {
		v, _ := url.ParseQuery(query)
		qs = map[string]string{}
		for k, vs := range v {
			qs[k] = strings.Join(vs, ",")
		}
	}
	iat := now.Add(-5 * time.Minute).Unix()
	return events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               path,
		RawQueryString:        query,
		Headers:               headers,
		QueryStringParameters: qs,
		PathParameters:        pathParams(path),
		Body:                  r.Body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    "JKJaXmPLvHcESHA=",
			APIID:        "abc123defg",
			DomainName:   "abc123defg.execute-api.us-east-1.amazonaws.com",
			DomainPrefix: "abc123defg",
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7", UserAgent: "python-httpx/0.27.0",
			},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{
						"aud":      "provider-credentials",
						"email":    "dev@example.com",
						"exp":      strconv.FormatInt(iat+3600, 10),
						"iat":      strconv.FormatInt(iat, 10),
						"iss":      "https://auth.example.com/",
						"jti":      "7f6d2c1e-8a4b-4c3d-9e2f-1a0b9c8d7e6f",
						"org_id":   r.Org,
						"org_role": r.Role,
						"scope":    "credentials:read credentials:write",
						"sub":      "user-0001",
					},
					Scopes: []string{"credentials:read", "credentials:write"},
				},
			},
		},
	}
}

// A token of the usual size (RS256, a dozen claims): API Gateway passes the
// header on, so the function decodes it with the rest of the event.
var fakeJWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRldi0xIiwidHlwIjoiSldUIn0." +
	strings.Repeat("eyJzdWIiOiJ1c2VyLTAwMDEiLCJvcmdfaWQiOiJvcmctYmVuY2gifQ", 6) + "." +
	strings.Repeat("SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", 8)

// routeOf turns a concrete path into the template's route path.
func routeOf(path string) string {
	parts := strings.Split(path, "/")
	if len(parts) >= 3 && parts[2] != "" && parts[2] != "test" {
		parts[2] = "{credential_id}"
	}
	return strings.Join(parts, "/")
}

func pathParams(path string) map[string]string {
	parts := strings.Split(path, "/")
	if len(parts) >= 3 && parts[2] != "" && parts[2] != "test" {
		return map[string]string{"credential_id": parts[2]}
	}
	return nil
}
