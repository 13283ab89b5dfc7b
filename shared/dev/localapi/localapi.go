// Package localapi serves the whole API from one process, as API Gateway
// and Lambda would: the routes come from template.yaml, each request goes
// through the API Gateway emulator (JWT check, payload 2.0 event) and the
// same Lambda adapter and handler the deployed function runs.
package localapi

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/dev/authn"
	"github.com/acme/provider-credentials/shared/dev/gateway"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/routes"
)

// FunctionDir returns the folder under functions/ of a template function:
// ListCredentialsFunction → list-credentials.
func FunctionDir(logicalID string) string {
	var b strings.Builder
	for i, r := range strings.TrimSuffix(logicalID, "Function") {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Routes returns a gateway route for every HttpApi event in the template,
// invoking its function's handler through the Lambda adapter.
func Routes(tpl *samtemplate.Template, b *app.Builder) ([]gateway.Route, error) {
	var rs []gateway.Route
	for _, fn := range tpl.Functions() {
		for _, ev := range fn.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			h, err := routes.Handler(b, FunctionDir(fn.LogicalID))
			if err != nil {
				return nil, fmt.Errorf("localapi: %s: %w", fn.LogicalID, err)
			}
			rs = append(rs, gateway.Route{
				Method: ev.Method, Path: ev.Path, Invoke: httpadapter.NewV2(h).ProxyWithContext,
			})
		}
	}
	return rs, nil
}

// Handler is the whole API as API Gateway serves it: every HttpApi route
// of the template behind the gateway emulator, tokens checked by v, and
// CORS as the template configures it for the origins in ALLOWED_ORIGINS
// (the AllowedOrigins parameter: comma-separated; unset, no CORS).
func Handler(tpl *samtemplate.Template, b *app.Builder, v authn.Verifier) (http.Handler, error) {
	rts, err := Routes(tpl, b)
	if err != nil {
		return nil, err
	}
	cors, err := CORS(tpl, os.Getenv("ALLOWED_ORIGINS"))
	if err != nil {
		return nil, err
	}
	return gateway.New(rts, v, gateway.Options{Logger: b.Log, CORS: cors})
}

// CORS returns the gateway's CORS settings for the given origins
// (comma-separated, as the AllowedOrigins parameter): the methods, headers
// and max age of the HTTP API's CorsConfiguration in the template (the
// branch of its !If that applies when origins are set). No origins: nil.
func CORS(tpl *samtemplate.Template, origins string) (*gateway.CORS, error) {
	list := gateway.ParseOrigins(origins)
	if len(list) == 0 {
		return nil, nil
	}
	apis := tpl.ResourcesOfType("AWS::Serverless::HttpApi")
	if len(apis) == 0 {
		return nil, errors.New("localapi: ALLOWED_ORIGINS is set, but the template has no HTTP API")
	}
	id := apis[0] // the template has one HTTP API
	v := tpl.Resources[id].Properties["CorsConfiguration"]
	if i, ok := v.(samtemplate.Intrinsic); ok && i.Fn == "Fn::If" {
		if args, ok := i.Args.([]any); ok && len(args) == 3 {
			v = args[1]
		}
	}
	cfg, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("localapi: ALLOWED_ORIGINS is set, but %s has no CorsConfiguration to apply it with", id)
	}
	c := &gateway.CORS{AllowOrigins: list}
	for _, m := range asList(cfg["AllowMethods"]) {
		c.AllowMethods = append(c.AllowMethods, fmt.Sprint(m))
	}
	for _, h := range asList(cfg["AllowHeaders"]) {
		c.AllowHeaders = append(c.AllowHeaders, fmt.Sprint(h))
	}
	if n, err := strconv.Atoi(fmt.Sprint(cfg["MaxAge"])); err == nil {
		c.MaxAge = n
	}
	return c, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
