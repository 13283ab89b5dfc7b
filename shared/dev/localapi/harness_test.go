package localapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/dev/authn"
	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/localapi"
	"github.com/acme/provider-credentials/shared/dev/rie"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// harness is the whole API as API Gateway and Lambda run it: the gateway
// emulator checks the JWT and builds the payload 2.0 event, the Lambda
// adapter turns it into a request for the real handler, and the handler
// talks to the emulator through the real SDK.
type harness struct {
	t   *testing.T
	env *awstest.Env
	h   http.Handler
	dev *authn.DevIssuer
	log *rie.Buffer // everything the handlers logged
}

func newHarness(t *testing.T, vars ...string) *harness {
	t.Helper()
	env := awstest.New(t)
	for i := 0; i+1 < len(vars); i += 2 {
		env.Set(vars[i], vars[i+1])
	}
	return harnessFor(t, env)
}

func harnessFor(t *testing.T, env *awstest.Env) *harness {
	t.Helper()
	logs := &rie.Buffer{}
	b, err := app.NewBuilder(context.Background(), env.Getenv, app.Clients{DynamoDB: env.DDB, SecretsManager: env.SM})
	if err != nil {
		t.Fatalf("builder: %v", err)
	}
	b.Log = slog.New(slog.NewJSONHandler(logs, nil))
	tpl, err := awstest.Template()
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	dev, err := authn.NewDevIssuer()
	if err != nil {
		t.Fatalf("dev issuer: %v", err)
	}
	gw, err := localapi.Handler(tpl, b, dev.Verifier())
	if err != nil {
		t.Fatalf("local API: %v", err)
	}
	return &harness{t: t, env: env, h: gw, dev: dev, log: logs}
}

// token signs a dev token with the given claims over the defaults.
func (h *harness) tokenWith(extra map[string]any) string {
	h.t.Helper()
	claims := authn.DevClaims("user-1", time.Hour, time.Now())
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	tok, err := h.dev.Sign(claims)
	if err != nil {
		h.t.Fatalf("sign: %v", err)
	}
	return tok
}

func (h *harness) token(org, role string) string {
	return h.tokenWith(map[string]any{"org_id": org, "org_role": role})
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

func (r response) detail(t *testing.T) any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m["detail"]
}

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON).
func (h *harness) do(method, path, token string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return response{status: rec.Code, body: rec.Body.Bytes(), header: rec.Header()}
}

// credential is the wire format, decoded loosely to check every field.
type credential struct {
	ID             string  `json:"id"`
	OrganizationID string  `json:"organization_id"`
	Provider       string  `json:"provider"`
	AccountKey     string  `json:"account_key"`
	DisplayName    string  `json:"display_name"`
	APIKeyLastFour *string `json:"api_key_last_four"`
	HasAPIKey      bool    `json:"has_api_key"`
	BaseURL        *string `json:"base_url"`
	Active         bool    `json:"active"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

func (h *harness) create(token string, body map[string]any) credential {
	h.t.Helper()
	r := h.do("POST", "/provider-credentials", token, body)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create: status = %d, want 201; body %s", r.status, r.body)
	}
	var c credential
	r.json(h.t, &c)
	return c
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body %s", r.status, want, r.body)
	}
}
