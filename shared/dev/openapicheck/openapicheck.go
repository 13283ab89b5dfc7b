// Package openapicheck validates real responses against openapi.yaml with
// kin-openapi, so that the document cannot drift from the handlers.
//
// kin-openapi (v0.153.0) reads OpenAPI 3.1 documents and, for them,
// validates bodies with its JSON Schema 2020-12 validator: type arrays such
// as [string, "null"], anyOf/oneOf and format are all enforced (the tests of
// this package prove it on wrong bodies).
package openapicheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Doc is a loaded and validated OpenAPI document.
type Doc struct {
	T *openapi3.T
}

// Load reads the document at path and validates it as OpenAPI.
func Load(ctx context.Context, path string) (*Doc, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	t, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapicheck: load %s: %w", path, err)
	}
	var opts []openapi3.ValidationOption
	if strings.HasPrefix(t.OpenAPI, "3.1") {
		opts = append(opts, openapi3.IsOpenAPI31OrLater())
	}
	if err := t.Validate(ctx, opts...); err != nil {
		return nil, fmt.Errorf("openapicheck: %s is not valid OpenAPI %s: %w", path, t.OpenAPI, err)
	}
	return &Doc{T: t}, nil
}

// Routes returns "METHOD /path" for every operation of the document, sorted.
func (d *Doc) Routes() []string {
	var out []string
	for path, item := range d.T.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// Statuses returns the documented response statuses of an operation.
func (d *Doc) Statuses(method, pathTemplate string) []int {
	op := d.operation(method, pathTemplate)
	if op == nil {
		return nil
	}
	var out []int
	for code := range op.Responses.Map() {
		if n, err := strconv.Atoi(code); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (d *Doc) operation(method, pathTemplate string) *openapi3.Operation {
	item := d.T.Paths.Value(pathTemplate)
	if item == nil {
		return nil
	}
	return item.GetOperation(strings.ToUpper(method))
}

// Response is what a handler answered to a request.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ValidateResponse checks a response to method on rawPath (matched by the
// route pathTemplate, as API Gateway matched it) against the document: the
// status must be documented for the operation and the body must match its
// schema. A 204 must have no body.
func (d *Doc) ValidateResponse(ctx context.Context, method, pathTemplate, rawPath string, pathParams map[string]string, resp Response) error {
	op := d.operation(method, pathTemplate)
	if op == nil {
		return fmt.Errorf("openapicheck: %s %s is not in the document", method, pathTemplate)
	}
	if resp.Status == http.StatusNoContent && len(bytes.TrimSpace(resp.Body)) > 0 {
		return fmt.Errorf("openapicheck: %s %s: 204 with a body of %d bytes", method, pathTemplate, len(resp.Body))
	}
	req := httptest.NewRequestWithContext(ctx, method, rawPath, nil)
	route := &routers.Route{
		Spec: d.T, Path: pathTemplate, PathItem: d.T.Paths.Value(pathTemplate),
		Method: strings.ToUpper(method), Operation: op,
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts},
		Status:                 resp.Status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(resp.Body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("openapicheck: %s %s answered %d: %w", method, pathTemplate, resp.Status, err)
	}
	return nil
}
