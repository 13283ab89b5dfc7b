package usage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
)

// Obviously fake keys. The bad ones match the echoes providers.md quotes:
// OpenAI "sk-4sJHr***...w8ZP" (first 8 + last 4), DeepSeek "****fcc2" (last 4),
// xAI "gs***tF" (first 2 + last 2).
const (
	goodKey        = "fk-Q7zVb2XwKpM9gRtY4hNcJ6dF"
	badOpenAIKey   = "sk-4sJHrFAKEq1Zx8Vb3Nm6Lw8ZP"
	badDeepSeekKey = "sk-FAKEv9Qz2Xc7Bn4Mkfcc2"
	badXAIKey      = "gsk_FAKEz8Qv3Xw7Bm2NtF"
	badOtherKey    = "zz-FAKEq9Wv4Xb8Nm2Kj7Hc5"
)

var t0 = time.Date(2026, 5, 20, 22, 3, 57, 123456000, time.UTC)

func fixedNow() time.Time { return t0 }

// route is one canned answer of a fake provider.
type route struct {
	status  int
	headers map[string]string
	body    string
}

// fakeProvider answers routes ("METHOD /path") when auth(r) accepts the key,
// else the provider's real rejected-key answer.
type fakeProvider struct {
	routes map[string]route
	auth   func(r *http.Request) bool
	bad    route
	hits   atomic.Int64
	seen   sync.Map // "METHOD /path?query" -> true
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	f.seen.Store(r.Method+" "+r.URL.RequestURI(), true)
	rt, ok := f.routes[r.Method+" "+r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if f.auth != nil && !f.auth(r) {
		rt = f.bad
	}
	for k, v := range rt.headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rt.status)
	_, _ = fmt.Fprint(w, rt.body)
}

func bearer(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+goodKey }
func xAPIKey(r *http.Request) bool {
	return r.Header.Get("x-api-key") == goodKey && r.Header.Get("anthropic-version") == "2023-06-01"
}
func googKey(r *http.Request) bool {
	return r.Header.Get("x-goog-api-key") == goodKey && r.URL.Query().Get("key") == ""
}
func azureKey(r *http.Request) bool {
	return r.Header.Get("api-key") == goodKey && r.URL.Query().Get("api-version") != ""
}
func ok200(body string) route { return route{status: 200, body: body} }
func okH(h map[string]string, body string) route {
	return route{status: 200, headers: h, body: body}
}

const chatUsage = `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"}}],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`

// Rejected-key answers, as providers.md quotes them.
var (
	openAIBad   = route{status: 401, body: `{"error":{"message":"Incorrect API key provided: sk-4sJHr***************************************w8ZP. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`}
	deepSeekBad = route{status: 401, body: "\n\n" + `{"error":{"message":"Authentication Fails, Your api key: ****fcc2 is invalid","type":"authentication_error","param":null,"code":"invalid_request_error"}}`}
	xAIBad      = route{status: 400, body: `"Incorrect API key provided: gs***tF. You can obtain an API key from https://console.x.ai."`}
)

type providerCase struct {
	provider string
	basePath string // appended to the server URL; "" = use server URL
	fake     *fakeProvider
	badKey   string
	badWant  string // prefix of Error for the rejected key
	want     map[string]any
	models   []string
	// masked forms the provider sends that must never surface
	masked []string
}

func providerCases() []providerCase {
	return []providerCase{
		{
			provider: "openai", basePath: "/v1", badKey: badOpenAIKey,
			badWant: "authentication failed (HTTP 401): Incorrect API key provided: [REDACTED]",
			masked:  []string{"sk-4sJHr", "w8ZP", "***"},
			fake: &fakeProvider{auth: bearer, bad: openAIBad, routes: map[string]route{
				"GET /v1/models": ok200(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"openai"},{"id":"gpt-4.1-nano","object":"model","created":1,"owned_by":"openai"}]}`),
				"POST /v1/chat/completions": okH(map[string]string{
					"x-ratelimit-limit-requests": "5000", "x-ratelimit-remaining-requests": "4999",
					"x-ratelimit-limit-tokens": "160000", "x-ratelimit-remaining-tokens": "159976",
					"x-ratelimit-reset-requests": "12ms", "x-ratelimit-reset-tokens": "6m0s",
					"x-ratelimit-limit-tokens_usage_based": "160000", "openai-processing-ms": "120",
				}, chatUsage),
			}},
			models: []string{"gpt-4.1-nano", "gpt-4o-mini"},
			want: map[string]any{
				"requests.limit": 5000.0, "requests.remaining": 4999.0, "requests.reset_in_ms": 12.0,
				"tokens.limit": 160000.0, "tokens.remaining": 159976.0, "tokens.used": 24.0, "tokens.pct_used": 0.015,
				"tokens.reset_in_ms": 360000.0, "tokens.reset_at": "2026-05-20T22:09:57.123456Z",
				"sample_model": "gpt-4.1-nano", "sample_input_tokens": 8.0, "sample_output_tokens": 1.0,
				"windows_exposed": true, "error": nil,
			},
		},
		{
			provider: "anthropic", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401): invalid x-api-key",
			fake: &fakeProvider{auth: xAPIKey,
				bad: route{status: 401, body: `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CFAKE"}`},
				routes: map[string]route{
					"GET /v1/models": ok200(`{"data":[{"id":"claude-sonnet-4-5-20250929","type":"model","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},{"id":"claude-haiku-4-5-20251001","type":"model","display_name":"Claude Haiku 4.5","created_at":"2025-10-01T00:00:00Z"}],"first_id":"a","has_more":false,"last_id":"b"}`),
					"POST /v1/messages": okH(map[string]string{
						"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49",
						"anthropic-ratelimit-requests-reset": "2026-05-20T22:03:58Z",
						"anthropic-ratelimit-tokens-limit":   "80000", "anthropic-ratelimit-tokens-remaining": "79000",
						"anthropic-ratelimit-tokens-reset":       "2026-05-20T22:04:38Z",
						"anthropic-ratelimit-input-tokens-limit": "64000", "anthropic-ratelimit-input-tokens-remaining": "64000",
						"anthropic-ratelimit-input-tokens-reset":  "2026-05-20T22:04:38Z",
						"anthropic-ratelimit-output-tokens-limit": "16000", "anthropic-ratelimit-output-tokens-remaining": "15000",
						"anthropic-ratelimit-output-tokens-reset": "2026-05-20T22:04:00Z",
						"retry-after": "1", "request-id": "req_x",
					}, `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"}],"model":"claude-haiku-4-5-20251001","usage":{"input_tokens":8,"output_tokens":1}}`),
				}},
			models: []string{"claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"},
			want: map[string]any{
				"tokens.limit": 80000.0, "tokens.remaining": 79000.0, "tokens.used": 1000.0, "tokens.pct_used": 1.25,
				"tokens.reset_at": "2026-05-20T22:04:38.000000Z", "tokens.reset_in_ms": 40876.0,
				"input_tokens.limit": 64000.0, "input_tokens.used": 0.0, "input_tokens.pct_used": 0.0,
				"output_tokens.limit": 16000.0, "output_tokens.used": 1000.0, "output_tokens.pct_used": 6.25,
				"requests.limit": 50.0, "requests.remaining": 49.0, "requests.reset_in_ms": 876.0,
				"sample_model": "claude-haiku-4-5-20251001", "sample_input_tokens": 8.0, "sample_output_tokens": 1.0,
			},
		},
		{
			provider: "gemini", basePath: "/v1beta", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 400): API key not valid. Please pass a valid API key.",
			fake: &fakeProvider{auth: googKey,
				bad: route{status: 400, body: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}`},
				routes: map[string]route{
					"GET /v1beta/models": ok200(`{"models":[{"name":"models/gemini-2.0-flash","displayName":"Gemini 2.0 Flash","inputTokenLimit":1048576,"supportedGenerationMethods":["generateContent","countTokens"]},{"name":"models/gemini-2.5-pro"}],"nextPageToken":""}`),
				}},
			models: []string{"gemini-2.0-flash", "gemini-2.5-pro"},
			want: map[string]any{
				"windows_exposed": false, "tokens.limit": nil, "requests.limit": nil, "sample_model": nil,
				"debug_rate_limit_headers": nil, "error": nil,
			},
		},
		{
			provider: "mistral", basePath: "/v1", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401): Unauthorized",
			fake: &fakeProvider{auth: bearer,
				bad: route{status: 401, body: `{"message":"Unauthorized","request_id":"c61f2f15fake"}`},
				routes: map[string]route{
					"GET /v1/models": ok200(`{"object":"list","data":[{"id":"mistral-small-latest","object":"model"},{"id":"mistral-large-latest","object":"model"}]}`),
					"POST /v1/chat/completions": okH(map[string]string{
						"x-ratelimit-limit-tokens-minute": "5000000", "x-ratelimit-remaining-tokens-minute": "4999911",
						"x-ratelimit-tokens-query-cost": "52",
						"x-ratelimit-limit-req-minute":  "720", "x-ratelimit-remaining-req-minute": "717",
					}, chatUsage),
				}},
			models: []string{"mistral-large-latest", "mistral-small-latest"},
			want: map[string]any{
				"tokens.limit": 5000000.0, "tokens.remaining": 4999911.0, "tokens.used": 89.0, "tokens.period": "minute",
				"tokens.reset_at": nil, "tokens.reset_in_ms": nil,
				"requests.limit": 720.0, "requests.remaining": 717.0, "requests.period": "minute",
				"sample_model": "mistral-small-latest",
			},
		},
		{
			provider: "groq", basePath: "/openai/v1", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401): Invalid API Key",
			fake: &fakeProvider{auth: bearer,
				bad: route{status: 401, headers: map[string]string{"x-groq-region": "us-east-1"}, body: `{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}`},
				routes: map[string]route{
					"GET /openai/v1/models": ok200(`{"object":"list","data":[{"id":"llama-3.1-8b-instant","object":"model","active":true,"context_window":131072}]}`),
					"POST /openai/v1/chat/completions": okH(map[string]string{
						"x-ratelimit-limit-requests": "14400", "x-ratelimit-remaining-requests": "14370",
						"x-ratelimit-limit-tokens": "18000", "x-ratelimit-remaining-tokens": "17997",
						"x-ratelimit-reset-requests": "2m59.56s", "x-ratelimit-reset-tokens": "7.66s",
					}, chatUsage),
				}},
			models: []string{"llama-3.1-8b-instant"},
			want: map[string]any{
				"requests.limit": 14400.0, "requests.remaining": 14370.0, "requests.reset_in_ms": 179560.0, "requests.period": "day",
				"tokens.limit": 18000.0, "tokens.used": 3.0, "tokens.reset_in_ms": 7660.0, "tokens.period": "minute",
				"sample_model": "llama-3.1-8b-instant",
			},
		},
		{
			provider: "deepseek", badKey: badDeepSeekKey,
			badWant: "authentication failed (HTTP 401): Authentication Fails, Your api key: [REDACTED] is invalid",
			masked:  []string{"****fcc2", "fcc2"},
			fake: &fakeProvider{auth: bearer, bad: deepSeekBad, routes: map[string]route{
				"GET /models":       ok200("\n\n\n" + `{"object":"list","data":[{"id":"deepseek-chat","object":"model","owned_by":"deepseek"},{"id":"deepseek-reasoner","object":"model","owned_by":"deepseek"}]}`),
				"GET /user/balance": ok200("\n" + `{"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00","granted_balance":"10.00","topped_up_balance":"100.00"}]}`),
			}},
			models: []string{"deepseek-chat", "deepseek-reasoner"},
			want: map[string]any{
				"windows_exposed": false, "balance.is_available": true, "balance.balance_infos.0.total_balance": "110.00",
				"balance.balance_infos.0.currency": "CNY", "tokens.limit": nil, "sample_model": nil, "error": nil,
			},
		},
		{
			provider: "xai", basePath: "/v1", badKey: badXAIKey,
			badWant: "authentication failed (HTTP 400): Incorrect API key provided: [REDACTED]",
			masked:  []string{"gs***tF", "***tF", "xai-...b14o", "b14o"},
			fake: &fakeProvider{auth: bearer, bad: xAIBad, routes: map[string]route{
				"GET /v1/models":  ok200(`{"object":"list","data":[{"id":"grok-3-mini","object":"model"},{"id":"grok-4","object":"model"}]}`),
				"GET /v1/api-key": ok200(`{"redacted_api_key":"xai-...b14o","user_id":"u1","name":"my key","create_time":"2025-01-01T00:00:00Z","team_id":"t1","acls":["api-key:model:*","api-key:endpoint:*"],"api_key_id":"k1","team_blocked":false,"api_key_blocked":false,"api_key_disabled":false}`),
				"POST /v1/chat/completions": okH(map[string]string{
					"x-ratelimit-limit-requests": "480", "x-ratelimit-remaining-requests": "479",
				}, chatUsage),
			}},
			models: []string{"grok-3-mini", "grok-4"},
			want: map[string]any{
				"key_status.api_key_blocked": false, "key_status.acls.0": "api-key:model:*",
				"requests.limit": 480.0, "requests.remaining": 479.0, "sample_model": "grok-3-mini",
			},
		},
		{
			provider: "openrouter", basePath: "/api/v1", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401): User not found.",
			masked:  []string{"sk-or-v1-0fa...240", "0fa...240"},
			fake: &fakeProvider{auth: bearer,
				bad: route{status: 401, body: `{"error":{"message":"User not found.","code":401}}`},
				routes: map[string]route{
					"GET /api/v1/models": ok200(`{"data":[{"id":"anthropic/claude-3.5-sonnet","pricing":{"prompt":"0.000003"}},{"id":"openai/gpt-4o-mini"}]}`),
					"GET /api/v1/key":    ok200(`{"data":{"label":"sk-or-v1-0fa...240","limit":10,"limit_reset":"monthly","limit_remaining":9.35,"include_byok_in_limit":false,"usage":0.65,"usage_daily":0.1,"usage_weekly":0.2,"usage_monthly":0.65,"is_free_tier":false,"free_model_daily_requests":{"used":3,"limit":1000,"remaining":997},"rate_limit":{"requests":40,"interval":"10s"}}}`),
				}},
			models: []string{"anthropic/claude-3.5-sonnet", "openai/gpt-4o-mini"},
			want: map[string]any{
				"credits.limit": 10.0, "credits.limit_remaining": 9.35, "credits.usage": 0.65, "credits.limit_reset": "monthly",
				"credits.free_model_daily_requests.remaining": 997.0, "windows_exposed": false, "error": nil,
			},
		},
		{
			provider: "together", basePath: "/v1", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401): Invalid API key provided.",
			fake: &fakeProvider{auth: bearer,
				bad: route{status: 401, body: `{"error":{"message":"Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
				routes: map[string]route{
					"GET /v1/models": ok200(`[{"id":"meta-llama/Llama-3.2-3B-Instruct-Turbo","object":"model","type":"chat","pricing":{"input":0.06,"output":0.06}},{"id":"BAAI/bge-large-en-v1.5","object":"model","type":"embedding"}]`),
					"POST /v1/chat/completions": okH(map[string]string{
						"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9", "x-ratelimit-reset": "1",
						"x-tokenlimit-limit": "2000", "x-tokenlimit-remaining": "1991",
						"x-ratelimit-limit-dynamic": "10", "x-tokenlimit-remaining-dynamic": "1991",
					}, chatUsage),
				}},
			models: []string{"BAAI/bge-large-en-v1.5", "meta-llama/Llama-3.2-3B-Instruct-Turbo"},
			want: map[string]any{
				"requests.limit": 10.0, "requests.remaining": 9.0, "requests.reset_in_ms": 1000.0, "requests.period": "second",
				"tokens.limit": 2000.0, "tokens.remaining": 1991.0, "tokens.used": 9.0, "tokens.period": "second",
			},
		},
		{
			provider: "fireworks", basePath: "/inference/v1", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401)",
			fake: &fakeProvider{auth: bearer,
				bad: route{status: 401, body: `{"error":{"object":"error","type":"invalid_request_error","message":"The API key you provided is invalid."}}`},
				routes: map[string]route{
					"GET /inference/v1/models": {status: 500, body: `{"error":{"message":"Error listing deployed models"}}`},
					"POST /inference/v1/chat/completions": okH(map[string]string{
						"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "5999",
						"x-ratelimit-limit-tokens-prompt": "7200000", "x-ratelimit-remaining-tokens-prompt": "7193993",
						"x-ratelimit-limit-tokens-generated": "72000", "x-ratelimit-remaining-tokens-generated": "69338",
						"x-ratelimit-limit-tokens-cache-adjusted-prompt": "900000", "x-ratelimit-over-limit": "no",
					}, chatUsage),
				}},
			models: nil,
			want: map[string]any{
				"reachable": true, "error": nil, "models": nil,
				"requests.limit": 6000.0, "input_tokens.limit": 7200000.0, "input_tokens.used": 6007.0,
				"output_tokens.limit": 72000.0, "output_tokens.remaining": 69338.0, "requests.reset_in_ms": nil,
				"sample_model": "accounts/fireworks/models/llama-v3p1-8b-instruct",
			},
		},
		{
			provider: "cohere", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401): invalid api token",
			fake: &fakeProvider{auth: bearer,
				bad: route{status: 401, body: `{"message":"invalid api token"}`},
				routes: map[string]route{
					"GET /v1/models": okH(map[string]string{"x-endpoint-monthly-call-limit": "1000"},
						`{"models":[{"name":"command-r7b-12-2024","endpoints":["chat"]},{"name":"embed-v4.0"}],"next_page_token":""}`),
					"POST /v1/check-api-key": okH(map[string]string{
						"x-endpoint-monthly-call-limit": "1000", "x-trial-endpoint-call-limit": "20", "x-trial-endpoint-call-remaining": "19",
					}, `{"valid":true,"organization_id":"org","owner_id":"own"}`),
				}},
			models: []string{"command-r7b-12-2024", "embed-v4.0"},
			want: map[string]any{
				"requests.limit": 20.0, "requests.remaining": 19.0, "windows_exposed": true,
				"debug_rate_limit_headers": []any{"x-endpoint-monthly-call-limit", "x-trial-endpoint-call-limit", "x-trial-endpoint-call-remaining"},
			},
		},
		{
			provider: "azure_openai", basePath: "/openai/deployments/mini-dep", badKey: badOtherKey,
			badWant: "authentication failed (HTTP 401): Access denied due to invalid subscription key",
			fake: &fakeProvider{auth: azureKey,
				bad: route{status: 401, headers: map[string]string{"apim-request-id": "x"}, body: `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`},
				routes: map[string]route{
					"GET /openai/models": ok200(`{"data":[{"id":"gpt-4o-mini","status":"succeeded","object":"model"}]}`),
					"POST /openai/deployments/mini-dep/chat/completions": okH(map[string]string{
						"x-ratelimit-remaining-requests": "99", "x-ratelimit-remaining-tokens": "99000",
						"x-ratelimit-limit-tokens": "100000", "x-ratelimit-reset-tokens": "30",
					}, chatUsage),
				}},
			models: []string{"gpt-4o-mini"},
			want: map[string]any{
				"requests.remaining": 99.0, "requests.limit": nil, "tokens.limit": 100000.0, "tokens.used": 1000.0,
				"tokens.pct_used": 1.0, "tokens.reset_in_ms": 30000.0, "sample_model": "mini-dep",
			},
		},
		{
			provider: "openai_compatible", basePath: "/v1", badKey: badOpenAIKey,
			badWant: "authentication failed (HTTP 401): Incorrect API key provided: [REDACTED]",
			masked:  []string{"sk-4sJHr", "w8ZP"},
			fake: &fakeProvider{auth: bearer, bad: openAIBad, routes: map[string]route{
				"GET /v1/models":            ok200(`{"object":"list","data":[{"id":"llama3.2:1b","object":"model"}]}`),
				"POST /v1/chat/completions": ok200(chatUsage),
			}},
			models: []string{"llama3.2:1b"},
			want: map[string]any{
				"sample_model": "llama3.2:1b", "windows_exposed": false, "tokens.limit": nil, "error": nil,
				"note": "provider sent no rate-limit headers",
			},
		},
	}
}

// flatten turns decoded JSON into "a.b.0.c" -> value.
func flatten(prefix string, v any, out map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join2(prefix, k), e, out)
		}
	case []any:
		out[prefix] = x
		for i, e := range x {
			flatten(join2(prefix, fmt.Sprint(i)), e, out)
		}
	default:
		out[prefix] = x
	}
}

func join2(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func decodeResult(t *testing.T, r Result) ([]byte, map[string]any) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	flat := map[string]any{}
	flatten("", v, flat)
	return b, flat
}

// assertNoKey fails if any run of 4+ characters of key, or any masked form,
// occurs in b. It never prints b or the key.
func assertNoKey(t *testing.T, b []byte, key string, masked []string) {
	t.Helper()
	s := string(b)
	for i := 0; i+4 <= len(key); i++ {
		if j := strings.Index(s, key[i:i+4]); j >= 0 {
			t.Fatalf("result JSON holds a 4-character run of the key (key offset %d, JSON offset %d)", i, j)
		}
	}
	for _, m := range masked {
		if strings.Contains(s, m) {
			t.Fatalf("result JSON holds a masked key form (%d chars)", len(m))
		}
	}
}

func newTestProber(opts Options) *Prober {
	opts.AllowPrivateNetworks = true
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	return NewProber(opts)
}

func TestProbeProviders(t *testing.T) {
	cases := providerCases()
	var names []string
	for _, c := range cases {
		names = append(names, c.provider)
	}
	slices.Sort(names)
	if !reflect.DeepEqual(names, ProviderNames()) {
		t.Fatalf("cases cover %v, want every provider %v", names, ProviderNames())
	}
	p := newTestProber(Options{})
	for _, c := range cases {
		t.Run(c.provider+"/ok", func(t *testing.T) {
			srv := httptest.NewServer(c.fake)
			defer srv.Close()
			res := p.Probe(context.Background(), Target{Provider: c.provider, AccountKey: "default", BaseURL: srv.URL + c.basePath, APIKey: goodKey})
			b, flat := decodeResult(t, res)
			assertNoKey(t, b, goodKey, c.masked)
			if !res.Reachable {
				t.Fatalf("reachable = false (error %v), want true", deref(res.Error))
			}
			if res.ErrorCode != nil || flat["error_code"] != nil {
				t.Errorf("error_code = %v, want null", flat["error_code"])
			}
			if !reflect.DeepEqual(res.Models, c.models) {
				t.Errorf("models = %v, want %v", res.Models, c.models)
			}
			if res.Provider != c.provider || res.AccountKey != "default" || !res.CheckedAt.Equal(t0) {
				t.Errorf("identity = %q %q %v", res.Provider, res.AccountKey, res.CheckedAt)
			}
			if flat["checked_at"] != "2026-05-20T22:03:57.123456Z" {
				t.Errorf("checked_at = %v", flat["checked_at"])
			}
			for k, want := range c.want {
				got, ok := flat[k]
				if !ok {
					t.Errorf("%s missing, want %v", k, want)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			for _, n := range res.DebugRateLimitHeaders {
				if n != strings.ToLower(n) {
					t.Errorf("header name %q not lower case", n)
				}
			}
			if !slices.IsSorted(res.DebugRateLimitHeaders) {
				t.Errorf("debug headers not sorted: %v", res.DebugRateLimitHeaders)
			}
			roundTrip(t, res)
		})
		t.Run(c.provider+"/rejected", func(t *testing.T) {
			srv := httptest.NewServer(c.fake)
			defer srv.Close()
			res := p.Probe(context.Background(), Target{Provider: c.provider, AccountKey: "default", BaseURL: srv.URL + c.basePath, APIKey: c.badKey})
			b, _ := decodeResult(t, res)
			assertNoKey(t, b, c.badKey, c.masked)
			if res.Reachable {
				t.Fatalf("reachable = true, want false")
			}
			if res.Error == nil || !strings.HasPrefix(*res.Error, c.badWant) {
				t.Fatalf("error = %q, want prefix %q", deref(res.Error), c.badWant)
			}
			if res.ErrorCode == nil || *res.ErrorCode != CodeInvalidKey {
				t.Errorf("error_code = %v, want invalid_key", res.ErrorCode)
			}
			if res.Models != nil || res.WindowsExposed != nil {
				t.Errorf("models = %v, windows_exposed = %v; want nulls", res.Models, res.WindowsExposed)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func roundTrip(t *testing.T, r Result) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, r)
	}
	b2, _ := json.Marshal(back)
	if string(b2) != string(b) {
		t.Fatalf("re-marshal differs")
	}
}

func TestProbeSendsNoQueryKey(t *testing.T) {
	f := providerCases()[2].fake // gemini
	srv := httptest.NewServer(f)
	defer srv.Close()
	newTestProber(Options{}).Probe(context.Background(), Target{Provider: "gemini", BaseURL: srv.URL, APIKey: goodKey})
	n := 0
	f.seen.Range(func(k, _ any) bool {
		n++
		if strings.Contains(k.(string), "key=") {
			t.Errorf("request %q carries the key in the query", "…")
		}
		if k.(string) != "GET /v1beta/models?pageSize=1000" {
			t.Errorf("unexpected request %q", k)
		}
		return true
	})
	if n == 0 {
		t.Fatal("no request made")
	}
}

func TestProbeStatuses(t *testing.T) {
	cases := []struct {
		name      string
		rt        route
		reachable bool
		err       string
	}{
		{"rate limited", route{status: 429, headers: map[string]string{"retry-after": "2", "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s"}, body: `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`}, true, "rate limited (HTTP 429)"},
		{"no quota", route{status: 429, body: `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`}, true, "no quota (HTTP 429): You exceeded your current quota"},
		{"payment", route{status: 402, body: `{"error":{"code":402,"message":"Insufficient credits"}}`}, true, "no quota (HTTP 402): Insufficient credits"},
		{"model missing", route{status: 404, body: `{"error":{"message":"The model does not exist","code":"model_not_found"}}`}, true, "not found (HTTP 404): The model does not exist"},
		{"restricted key", route{status: 403, body: `{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: model.request.","type":"invalid_request_error","code":null}}`}, true, "request failed (HTTP 403): You have insufficient permissions for this operation. Missing scopes: model.request."},
		{"server error", route{status: 503, body: `<html>busy</html>`}, true, "provider error (HTTP 503)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeProvider{auth: bearer, routes: map[string]route{
				"GET /v1/models":            ok200(`{"data":[{"id":"gpt-4o-mini"}]}`),
				"POST /v1/chat/completions": c.rt,
			}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			res := newTestProber(Options{}).Probe(context.Background(), Target{Provider: "openai", BaseURL: srv.URL + "/v1", APIKey: goodKey})
			if res.Reachable != c.reachable || deref(res.Error) != c.err {
				t.Fatalf("reachable, error = %v, %q; want %v, %q", res.Reachable, deref(res.Error), c.reachable, c.err)
			}
		})
	}
	t.Run("rate limited windows", func(t *testing.T) {
		f := &fakeProvider{auth: bearer, routes: map[string]route{
			"GET /v1/models":            ok200(`{"data":[{"id":"gpt-4o-mini"}]}`),
			"POST /v1/chat/completions": cases[0].rt,
		}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		res := newTestProber(Options{}).Probe(context.Background(), Target{Provider: "openai", BaseURL: srv.URL + "/v1", APIKey: goodKey})
		if res.Requests.Remaining == nil || *res.Requests.Remaining != 0 || *res.Requests.ResetInMS != 1000 {
			t.Fatalf("requests = %+v", res.Requests)
		}
		if !slices.Contains(res.DebugRateLimitHeaders, "retry-after") {
			t.Fatalf("debug headers = %v", res.DebugRateLimitHeaders)
		}
	})
}

func TestProbeInputErrors(t *testing.T) {
	p := NewProber(Options{Now: fixedNow})
	cases := []struct {
		t   Target
		err string
	}{
		{Target{Provider: "nope", APIKey: goodKey}, "unsupported provider"},
		{Target{Provider: "openai_compatible", APIKey: goodKey}, "base_url required"},
		{Target{Provider: "azure_openai", APIKey: goodKey}, "base_url required"},
		{Target{Provider: "openai"}, "no API key configured"},
		{Target{Provider: "openai", BaseURL: "http://api.example.com/v1", APIKey: goodKey}, "base_url must use https"},
		{Target{Provider: "openai", BaseURL: "https://127.0.0.1/v1", APIKey: goodKey}, "base_url address not allowed"},
	}
	for _, c := range cases {
		res := p.Probe(context.Background(), c.t)
		if res.Reachable || deref(res.Error) != c.err {
			t.Errorf("%+v: reachable, error = %v, %q; want false, %q", c.t.Provider, res.Reachable, deref(res.Error), c.err)
		}
		if res.Provider != c.t.Provider || !res.CheckedAt.Equal(t0) {
			t.Errorf("identity not kept: %q %v", res.Provider, res.CheckedAt)
		}
		roundTrip(t, res)
	}
}

func TestAzureWithoutDeployment(t *testing.T) {
	f := providerCases()[11].fake
	srv := httptest.NewServer(f)
	defer srv.Close()
	res := newTestProber(Options{}).Probe(context.Background(), Target{Provider: "azure_openai", BaseURL: srv.URL, APIKey: goodKey})
	if !res.Reachable || res.SampleModel != nil || res.Note == nil || !strings.Contains(*res.Note, "deployment") {
		t.Fatalf("reachable %v sample %v note %q", res.Reachable, res.SampleModel, deref(res.Note))
	}
}

func TestProbeConcurrent(t *testing.T) {
	c := providerCases()[1] // anthropic
	srv := httptest.NewServer(c.fake)
	defer srv.Close()
	p := newTestProber(Options{})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := goodKey
			if i%2 == 1 {
				key = badOtherKey
			}
			res := p.Probe(context.Background(), Target{Provider: "anthropic", BaseURL: srv.URL, APIKey: key})
			if res.Reachable != (i%2 == 0) {
				t.Errorf("probe %d: reachable = %v", i, res.Reachable)
			}
		}()
	}
	wg.Wait()
}

func TestProviderNamesMatchCredentials(t *testing.T) {
	if got, want := ProviderNames(), credentials.Providers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ProviderNames() = %v, want %v", got, want)
	}
}
