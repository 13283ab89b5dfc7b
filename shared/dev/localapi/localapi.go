// Package localapi serves the whole API from one process, as API Gateway
// and Lambda would: the routes come from template.yaml, each request goes
// through the API Gateway emulator (JWT check, payload 2.0 event) and the
// same Lambda adapter and handler the deployed function runs.
package localapi

import (
	"fmt"
	"net/http"
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
// of the template behind the gateway emulator, tokens checked by v.
func Handler(tpl *samtemplate.Template, b *app.Builder, v authn.Verifier) (http.Handler, error) {
	rts, err := Routes(tpl, b)
	if err != nil {
		return nil, err
	}
	return gateway.New(rts, v, gateway.Options{Logger: b.Log})
}
