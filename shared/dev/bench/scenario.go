package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/fakeprovider"
	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/routes"
)

// Org is the organisation every measured request acts for.
const Org = "org-bench"

// ListSize is how many credentials the measured list returns.
const ListSize = 10

// Plan is one route and outcome whose AWS calls are counted, with the most
// calls the design allows and why.
type Plan struct {
	Name     string // figure name: list, get, create-key...
	Function string // folder under functions/
	Target   int    // most AWS calls per request the design allows
	Why      string
	Status   int // the status the request must get
}

// Plans lists every route and outcome, in the order they are measured.
var Plans = []Plan{
	{"list", "list-credentials", 1, "one Query per 1 MB page (" + fmt.Sprint(ListSize) + " credentials: one page), never a Scan", 200},
	{"get", "get-credential", 1, "one consistent GetItem on (org, id): the org is in the key", 200},
	{"create-key", "create-credential", 2, "CreateSecret first, then the item and its uniqueness guard in one TransactWriteItems", 201},
	{"create-no-key", "create-credential", 1, "the item and its uniqueness guard in one TransactWriteItems; no secret", 201},
	{"patch-no-key", "update-credential", 1, "one conditional UpdateItem returning the new item; Secrets Manager untouched", 200},
	{"patch-key", "update-credential", 3, "UpdateItem reading the item and taking its lock, PutSecretValue, conditional PutItem bumping the key version and dropping the lock", 200},
	{"delete", "delete-credential", 3, "UpdateItem reading the item and taking its lock, DeleteSecret with a recovery window, TransactWriteItems (item, guard, cached usage)", 204},
	{"usage-hit", "get-usage", 1, "one BatchGetItem fetches the credential and its cached result from both tables", 200},
	{"usage-first", "get-usage", 4, "a probe that changes the credential's health (here its first): BatchGetItem, GetSecretValue, probe, PutItem the result, one conditional UpdateItem of the health attributes", 200},
	{"usage-miss", "get-usage", 3, "BatchGetItem, GetSecretValue (then cached per instance), probe the provider, PutItem the result; health unchanged, so no health write", 200},
	{"test", "test-credential", 0, "probes the key it is given and stores nothing: no AWS call", 200},
}

// Outcome is a plan as measured against the emulator: the AWS operations
// the request made, the emulator's answers (for replay) and the request.
type Outcome struct {
	Plan
	Request   Request
	Ops       []string
	Responses Responses
}

// Over reports whether the request made more AWS calls than its target.
func (o Outcome) Over() bool { return len(o.Ops) > o.Target }

// World is the AWS side of a measurement: tables of template.yaml in the
// emulator, and the environment the functions read.
type World struct {
	Env   map[string]string
	Calls *Calls
	rec   *Recorder
	b     *app.Builder
}

// Getenv is the environment of the measured functions.
func (w *World) Getenv(name string) string { return w.Env[name] }

// NewWorld creates uniquely named tables of the template in the emulator
// at endpoint and builds the functions' clients over a call counter and a
// response recorder.
func NewWorld(ctx context.Context, endpoint string, tpl *samtemplate.Template) (*World, error) {
	w := &World{Calls: &Calls{}, rec: &Recorder{Client: &http.Client{Timeout: 30 * time.Second}}}
	clients, db, _, err := NewClients(ctx, ClientOptions{Endpoint: endpoint, HTTP: w.rec, Calls: w.Calls})
	if err != nil {
		return nil, err
	}
	suffix := strings.ToLower(credentials.NewID()[:8])
	w.Env = map[string]string{
		"CREDENTIALS_TABLE":            "bench-creds-" + suffix,
		"USAGE_TABLE":                  "bench-usage-" + suffix,
		"SECRET_PREFIX":                "bench-" + suffix,
		"STACK_NAME":                   "bench-" + suffix,
		"PROBE_ALLOW_PRIVATE_NETWORKS": "1",
		// A day: a replayed cache hit must stay a hit however long it runs.
		"USAGE_FRESH_SECONDS": "86400",
	}
	for logical, env := range map[string]string{"CredentialsTable": "CREDENTIALS_TABLE", "UsageTable": "USAGE_TABLE"} {
		res, ok := tpl.Resources[logical]
		if !ok {
			return nil, fmt.Errorf("bench: template.yaml has no %s", logical)
		}
		if err := dynamo.CreateTable(ctx, db, w.Env[env], res.Properties); err != nil {
			return nil, err
		}
	}
	if w.b, err = app.NewBuilder(ctx, w.Getenv, clients); err != nil {
		return nil, err
	}
	w.b.Log = slog.New(slog.DiscardHandler)
	return w, nil
}

// Invoker is a function's handler behind the Lambda adapter, as
// lambda.Start runs it.
type Invoker func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Invoker builds a fresh instance (a cold start's handler) of a function.
func (w *World) Invoker(function string) (Invoker, error) {
	h, err := routes.Handler(w.b, function)
	if err != nil {
		return nil, err
	}
	return httpadapter.NewV2(h).ProxyWithContext, nil
}

// Do sends one request to a function instance and checks its status.
func Do(ctx context.Context, fn Invoker, r Request, want int) (events.APIGatewayV2HTTPResponse, error) {
	resp, err := fn(ctx, Event(r, time.Now()))
	if err != nil {
		return resp, fmt.Errorf("bench: %s %s: %w", r.Method, r.Path, err)
	}
	if resp.StatusCode != want {
		return resp, fmt.Errorf("bench: %s %s: status %d, want %d: %s", r.Method, r.Path, resp.StatusCode, want, resp.Body)
	}
	return resp, nil
}

// Record runs every plan once against the emulator, in order, each through
// the function that serves it, after seeding what it needs: ListSize
// credentials in Org, one of them with a key and a base URL at provider
// (an OpenAI-compatible server, see FakeProvider).
func (w *World) Record(ctx context.Context, provider string) ([]Outcome, error) {
	fns := map[string]Invoker{}
	for name := range routes.All() {
		fn, err := w.Invoker(name)
		if err != nil {
			return nil, err
		}
		fns[name] = fn
	}
	admin := func(method, path string, body any) Request {
		r := Request{Method: method, Path: path, Org: Org, Role: "admin"}
		if body != nil {
			j, _ := json.Marshal(body)
			r.Body = string(j)
		}
		return r
	}
	// Seed: the keyed credential the single-item routes use, and keyless
	// ones up to ListSize.
	resp, err := Do(ctx, fns["create-credential"], admin("POST", "/provider-credentials", map[string]any{
		"provider": "openai", "account_key": "default", "display_name": "Production",
		"api_key": FakeProviderKey, "base_url": provider + "/v1",
	}), 201)
	if err != nil {
		return nil, err
	}
	var keyed struct{ ID string }
	if err := json.Unmarshal([]byte(resp.Body), &keyed); err != nil {
		return nil, fmt.Errorf("bench: create: %w", err)
	}
	provs := []string{"anthropic", "cohere", "deepseek", "fireworks", "gemini", "groq", "mistral", "openrouter", "together", "xai"}
	for i := 1; i < ListSize; i++ {
		_, err := Do(ctx, fns["create-credential"], admin("POST", "/provider-credentials", map[string]any{
			"provider": provs[i%len(provs)], "account_key": fmt.Sprintf("team-%02d", i), "display_name": fmt.Sprintf("Team %d", i),
		}), 201)
		if err != nil {
			return nil, err
		}
	}
	one := "/provider-credentials/" + keyed.ID
	requests := map[string]Request{
		"list":          {Method: "GET", Path: "/provider-credentials", Org: Org, Role: "member"},
		"get":           {Method: "GET", Path: one, Org: Org, Role: "member"},
		"create-key":    admin("POST", "/provider-credentials", map[string]any{"provider": "openai", "account_key": "batch", "display_name": "Batch jobs", "api_key": FakeProviderKey}),
		"create-no-key": admin("POST", "/provider-credentials", map[string]any{"provider": "groq", "account_key": "later", "display_name": "Key to come"}),
		"patch-no-key":  admin("PATCH", one, map[string]any{"display_name": "Production (EU)", "active": true}),
		"usage-first":   {Method: "GET", Path: one + "/usage", Org: Org, Role: "member"},
		"usage-miss":    {Method: "GET", Path: one + "/usage?refresh=true", Org: Org, Role: "member"},
		"usage-hit":     {Method: "GET", Path: one + "/usage", Org: Org, Role: "member"},
		"test":          admin("POST", "/provider-credentials/test", map[string]any{"provider": "openai", "api_key": FakeProviderKey, "base_url": provider + "/v1"}),
		"patch-key":     admin("PATCH", one, map[string]any{"api_key": FakeProviderKey + "-rotated"}),
		"delete":        admin("DELETE", one, nil),
	}
	// The order that leaves each request the state it needs: the first
	// probe (which records the credential's health) before the hit, the
	// steady-state probe (?refresh=true, as the hit left the cache fresh)
	// after; the key changes and the delete come last.
	order := []string{"list", "get", "create-key", "create-no-key", "patch-no-key", "usage-first", "usage-hit", "usage-miss", "test", "patch-key", "delete"}
	byName := map[string]Outcome{}
	for _, name := range order {
		i := slices.IndexFunc(Plans, func(p Plan) bool { return p.Name == name })
		p := Plans[i]
		w.Calls.Reset()
		w.rec.Start()
		_, err := Do(ctx, fns[p.Function], requests[name], p.Status)
		responses := w.rec.Stop()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		byName[name] = Outcome{Plan: p, Request: requests[name], Ops: w.Calls.Ops(), Responses: responses}
	}
	out := make([]Outcome, 0, len(Plans))
	for _, p := range Plans {
		out = append(out, byName[p.Name])
	}
	return out, nil
}

// FakeProviderKey is the only key FakeProvider accepts.
const FakeProviderKey = "sk-bench-0123456789abcdefghijWXYZ"

// FakeProvider answers as OpenAI does to the probe: a model list and a
// one-token chat completion with x-ratelimit-* headers, for FakeProviderKey
// and its rotation.
func FakeProvider() http.Handler {
	return fakeprovider.NewOpenAI(FakeProviderKey, FakeProviderKey+"-rotated")
}
