package usage

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Error bodies as the providers send them (see /shared/providers.md).
const (
	openAIRateBody  = `{"error":{"message":"Rate limit reached for gpt-4.1-nano in organization org-FAKE on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	openAIQuotaBody = `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	openAIScopeBody = `{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: model.request.","type":"invalid_request_error","param":null,"code":null}}`
	openAIRegion    = `{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}`
	geminiQuotaBody = `{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"5"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}`
)

// codeCase is one probe whose result must carry code (nil when empty).
type codeCase struct {
	provider, name string
	routes         map[string]route // replace the provider's fake routes
	key            string           // "" = goodKey
	reachable      bool
	code           Code
	errPrefix      string
}

func codeCases() []codeCase {
	r := func(status int, body string) route { return route{status: status, body: body} }
	rh := func(status int, h map[string]string, body string) route {
		return route{status: status, headers: h, body: body}
	}
	return []codeCase{
		{provider: "openai", name: "ok", reachable: true},
		{provider: "openai", name: "invalid key", key: badOpenAIKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401)"},
		{provider: "openai", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /v1/chat/completions": rh(429, map[string]string{"retry-after": "20", "x-ratelimit-remaining-requests": "0"}, openAIRateBody)}},
		{provider: "openai", name: "insufficient quota", reachable: true, code: CodeInsufficientQuota, errPrefix: "no quota (HTTP 429)",
			routes: map[string]route{"POST /v1/chat/completions": r(429, openAIQuotaBody)}},
		{provider: "openai", name: "restricted key", reachable: true, code: CodePermissionDenied, errPrefix: "request failed (HTTP 403)",
			routes: map[string]route{"POST /v1/chat/completions": r(403, openAIScopeBody)}},
		{provider: "openai", name: "region", code: CodePermissionDenied, errPrefix: "authentication failed (HTTP 403)",
			routes: map[string]route{"GET /v1/models": r(403, openAIRegion)}},
		{provider: "openai", name: "server error", reachable: true, code: CodeProviderError, errPrefix: "provider error (HTTP 500)",
			routes: map[string]route{"POST /v1/chat/completions": r(500, `{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`)}},
		{provider: "openai", name: "model missing", reachable: true, code: CodeProviderError, errPrefix: "not found (HTTP 404)",
			routes: map[string]route{"POST /v1/chat/completions": r(404, `{"error":{"message":"The model does not exist","code":"model_not_found"}}`)}},

		{provider: "anthropic", name: "ok", reachable: true},
		{provider: "anthropic", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): invalid x-api-key"},
		{provider: "anthropic", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /v1/messages": rh(429, map[string]string{"retry-after": "12"}, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`)}},
		{provider: "anthropic", name: "no credit", reachable: true, code: CodeInsufficientQuota, errPrefix: "request failed (HTTP 400): Your credit balance is too low",
			routes: map[string]route{"POST /v1/messages": r(400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}`)}},
		{provider: "anthropic", name: "permission", code: CodePermissionDenied, errPrefix: "authentication failed (HTTP 403)",
			routes: map[string]route{"POST /v1/messages": r(403, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`)}},
		{provider: "anthropic", name: "overloaded", reachable: true, code: CodeProviderError, errPrefix: "provider error (HTTP 529)",
			routes: map[string]route{"POST /v1/messages": r(529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)}},

		{provider: "gemini", name: "ok", reachable: true},
		{provider: "gemini", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 400): API key not valid"},
		{provider: "gemini", name: "expired key", code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 400): API key expired",
			routes: map[string]route{"GET /v1beta/models": r(400, `{"error":{"code":400,"message":"API key expired. Please renew the API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`)}},
		{provider: "gemini", name: "permission", code: CodePermissionDenied, errPrefix: "authentication failed (HTTP 403)",
			routes: map[string]route{"GET /v1beta/models": r(403, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`)}},
		{provider: "gemini", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"GET /v1beta/models": r(429, geminiQuotaBody)}},
		{provider: "gemini", name: "unavailable", code: CodeProviderError, errPrefix: "provider error (HTTP 503)",
			routes: map[string]route{"GET /v1beta/models": r(503, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`)}},

		{provider: "mistral", name: "ok", reachable: true},
		{provider: "mistral", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): Unauthorized"},
		{provider: "mistral", name: "invalid key detail", code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): Unauthorized",
			routes: map[string]route{"GET /v1/models": r(401, `{"detail":"Unauthorized"}`)}},
		{provider: "mistral", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /v1/chat/completions": rh(429, map[string]string{"x-ratelimit-limit-req-minute": "0", "x-ratelimit-remaining-req-minute": "0"}, `{"object":"error","message":"Requests rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}`)}},

		{provider: "groq", name: "ok", reachable: true},
		{provider: "groq", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): Invalid API Key"},
		{provider: "groq", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /openai/v1/chat/completions": rh(429, map[string]string{"retry-after": "2"}, `{"error":{"message":"Rate limit reached for model llama-3.1-8b-instant on tokens per minute (TPM): Limit 6000, Used 5990, Requested 20.","type":"tokens","code":"rate_limit_exceeded"}}`)}},

		{provider: "together", name: "ok", reachable: true},
		{provider: "together", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): Invalid API key provided."},
		{provider: "together", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /v1/chat/completions": r(429, `{"error":{"message":"You have been rate limited.","type":"dynamic_request_limited","code":"dynamic_request_limited"}}`)}},
		{provider: "together", name: "capacity", reachable: true, code: CodeProviderError, errPrefix: "provider error (HTTP 503)",
			routes: map[string]route{"POST /v1/chat/completions": r(503, `{"error":{"message":"The server is overloaded","type":"server_error"}}`)}},

		{provider: "fireworks", name: "ok", reachable: true},
		{provider: "fireworks", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401)"},
		{provider: "fireworks", name: "no credit", reachable: true, code: CodeInsufficientQuota, errPrefix: "no quota (HTTP 402)",
			routes: map[string]route{"POST /inference/v1/chat/completions": r(402, `{"error":{"object":"error","type":"invalid_request_error","message":"Account has exhausted its credits"}}`)}},
		{provider: "fireworks", name: "rate limited", code: CodeRateLimited, reachable: true, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /inference/v1/chat/completions": rh(429, map[string]string{"x-ratelimit-over-limit": "yes"}, `{"error":{"object":"error","type":"invalid_request_error","message":"rate limit exceeded"}}`)}},

		{provider: "deepseek", name: "ok", reachable: true},
		{provider: "deepseek", name: "invalid key", key: badDeepSeekKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401)"},
		{provider: "deepseek", name: "no balance", reachable: true, code: CodeInsufficientQuota, errPrefix: "no quota (insufficient balance)",
			routes: map[string]route{"GET /user/balance": r(200, `{"is_available":false,"balance_infos":[{"currency":"USD","total_balance":"0.00","granted_balance":"0.00","topped_up_balance":"0.00"}]}`)}},
		{provider: "deepseek", name: "insufficient balance 402", reachable: true, code: CodeInsufficientQuota, errPrefix: "no quota (HTTP 402): Insufficient Balance",
			routes: map[string]route{"GET /user/balance": r(402, `{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}`)}},
		{provider: "deepseek", name: "busy", code: CodeProviderError, errPrefix: "provider error (HTTP 503)",
			routes: map[string]route{"GET /models": r(503, ""), "GET /user/balance": r(503, "")}},

		{provider: "xai", name: "ok", reachable: true},
		{provider: "xai", name: "invalid key", key: badXAIKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 400): Incorrect API key provided"},
		{provider: "xai", name: "disabled key", code: CodeInvalidKey, errPrefix: "API key disabled",
			routes: map[string]route{"GET /v1/api-key": r(200, `{"redacted_api_key":"xai-...b14o","acls":[],"team_blocked":false,"api_key_blocked":false,"api_key_disabled":true}`)}},
		{provider: "xai", name: "blocked key", code: CodePermissionDenied, errPrefix: "API key blocked",
			routes: map[string]route{"GET /v1/api-key": r(200, `{"redacted_api_key":"xai-...b14o","acls":[],"team_blocked":false,"api_key_blocked":true,"api_key_disabled":false}`)}},
		{provider: "xai", name: "team blocked", code: CodePermissionDenied, errPrefix: "team blocked",
			routes: map[string]route{"GET /v1/api-key": r(200, `{"redacted_api_key":"xai-...b14o","acls":[],"team_blocked":true,"api_key_blocked":false,"api_key_disabled":false}`)}},
		{provider: "xai", name: "no credits", code: CodeInsufficientQuota, errPrefix: "authentication failed (HTTP 403)",
			routes: map[string]route{"POST /v1/chat/completions": r(403, `{"code":"The caller does not have permission to execute the specified operation","error":"Your newly created team doesn't have any credits yet. You can purchase credits on https://console.x.ai/team/default."}`)}},
		{provider: "xai", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /v1/chat/completions": r(429, `{"code":"Some resource has been exhausted","error":"Your team has hit its rate limit."}`)}},

		{provider: "openrouter", name: "ok", reachable: true},
		{provider: "openrouter", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): User not found."},
		{provider: "openrouter", name: "key limit reached", reachable: true, code: CodeInsufficientQuota, errPrefix: "no quota (key credit limit reached)",
			routes: map[string]route{"GET /api/v1/key": r(200, `{"data":{"label":"sk-or-v1-0fa...240","limit":10,"limit_reset":null,"limit_remaining":0,"usage":10,"is_free_tier":false}}`)}},
		{provider: "openrouter", name: "no credits 402", reachable: true, code: CodeInsufficientQuota, errPrefix: "no quota (HTTP 402): Insufficient credits",
			routes: map[string]route{"GET /api/v1/key": r(402, `{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits","metadata":{"limit_source":"openrouter_credits"}}}`)}},
		{provider: "openrouter", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"GET /api/v1/key": rh(429, map[string]string{"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1779315837123"}, `{"error":{"code":429,"message":"Rate limit exceeded","metadata":{"error_type":"rate_limit_exceeded"}}}`)}},

		{provider: "cohere", name: "ok", reachable: true},
		{provider: "cohere", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): invalid api token"},
		{provider: "cohere", name: "key not valid", code: CodeInvalidKey, errPrefix: "authentication failed: key not valid",
			routes: map[string]route{"POST /v1/check-api-key": r(200, `{"valid":false}`)}},
		{provider: "cohere", name: "trial rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /v1/check-api-key": r(429, `{"id":"x","message":"You are using a Trial key, which is limited to 20 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."}`)}},

		{provider: "azure_openai", name: "ok", reachable: true},
		{provider: "azure_openai", name: "invalid key", key: badOtherKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401): Access denied due to invalid subscription key"},
		{provider: "azure_openai", name: "rate limited", reachable: true, code: CodeRateLimited, errPrefix: "rate limited (HTTP 429)",
			routes: map[string]route{"POST /openai/deployments/mini-dep/chat/completions": rh(429, map[string]string{"retry-after-ms": "6000", "retry-after": "6"}, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}`)}},
		{provider: "azure_openai", name: "firewall", code: CodePermissionDenied, errPrefix: "authentication failed (HTTP 403): Access denied due to Virtual Network/Firewall rules.",
			routes: map[string]route{"GET /openai/models": r(403, `{"error":{"code":"403","message":"Access denied due to Virtual Network/Firewall rules."}}`)}},
		{provider: "azure_openai", name: "deployment missing", reachable: true, code: CodeProviderError, errPrefix: "not found (HTTP 404)",
			routes: map[string]route{"POST /openai/deployments/mini-dep/chat/completions": r(404, `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`)}},

		{provider: "openai_compatible", name: "ok", reachable: true},
		{provider: "openai_compatible", name: "invalid key", key: badOpenAIKey, code: CodeInvalidKey, errPrefix: "authentication failed (HTTP 401)"},
		{provider: "openai_compatible", name: "wrong path", code: CodeProviderError, errPrefix: "not found (HTTP 404)",
			routes: map[string]route{"GET /v1/models": r(404, `{"detail":"Not Found"}`), "POST /v1/chat/completions": r(404, `{"detail":"Not Found"}`)}},
	}
}

// TestErrorCodesPerProvider probes each provider's fake, answering as the
// provider does, and checks error_code (and reachable, and the key never
// shows) per reason.
func TestErrorCodesPerProvider(t *testing.T) {
	base := map[string]providerCase{}
	for _, c := range providerCases() {
		base[c.provider] = c
	}
	covered := map[string]map[Code]bool{}
	p := newTestProber(Options{})
	for _, c := range codeCases() {
		t.Run(c.provider+"/"+c.name, func(t *testing.T) {
			pc := base[c.provider]
			routes := maps.Clone(pc.fake.routes)
			for k, rt := range c.routes {
				if _, ok := routes[k]; !ok {
					t.Fatalf("route %q not in the %s fake", k, c.provider)
				}
				routes[k] = rt
			}
			srv := httptest.NewServer(&fakeProvider{auth: pc.fake.auth, bad: pc.fake.bad, routes: routes})
			defer srv.Close()
			key := c.key
			if key == "" {
				key = goodKey
			}
			res := p.Probe(context.Background(), Target{Provider: c.provider, AccountKey: "default", BaseURL: srv.URL + pc.basePath, APIKey: key})
			b, flat := decodeResult(t, res)
			assertNoKey(t, b, key, pc.masked)
			checkCode(t, res, flat, c.reachable, c.code, c.errPrefix)
			if covered[c.provider] == nil {
				covered[c.provider] = map[Code]bool{}
			}
			covered[c.provider][c.code] = true
		})
	}
	for _, name := range ProviderNames() {
		if !covered[name][""] || !covered[name][CodeInvalidKey] {
			t.Errorf("%s: no ok or invalid_key case", name)
		}
		if name != "openai_compatible" && !covered[name][CodeRateLimited] && name != "deepseek" {
			t.Errorf("%s: no rate_limited case", name)
		}
	}
}

// checkCode checks reachable, error_code (in the struct and the JSON) and
// that error is set exactly when error_code is.
func checkCode(t *testing.T, res Result, flat map[string]any, reachable bool, code Code, errPrefix string) {
	t.Helper()
	if res.Reachable != reachable {
		t.Errorf("reachable = %v, want %v (error %q)", res.Reachable, reachable, deref(res.Error))
	}
	v, present := flat["error_code"]
	if !present {
		t.Fatalf("error_code missing from the JSON")
	}
	if code == "" {
		if res.ErrorCode != nil || v != nil || res.Error != nil {
			t.Fatalf("error_code = %v, error = %q; want both null", v, deref(res.Error))
		}
		return
	}
	if res.ErrorCode == nil || *res.ErrorCode != code || v != string(code) {
		t.Fatalf("error_code = %v (error %q), want %s", v, deref(res.Error), code)
	}
	if !res.ErrorCode.Valid() {
		t.Fatalf("error_code %q not in Codes()", *res.ErrorCode)
	}
	if res.Error == nil || !strings.HasPrefix(*res.Error, errPrefix) {
		t.Fatalf("error = %q, want prefix %q", deref(res.Error), errPrefix)
	}
}

// TestErrorCodeNoKey: every provider that needs a key says no_key without one.
func TestErrorCodeNoKey(t *testing.T) {
	p := NewProber(Options{Now: fixedNow})
	for _, name := range ProviderNames() {
		base := ""
		if name == "openai_compatible" || name == "azure_openai" {
			base = "https://my-res.openai.azure.com/openai/deployments/d"
		}
		res := p.Probe(context.Background(), Target{Provider: name, BaseURL: base})
		_, flat := decodeResult(t, res)
		if name == "openai_compatible" { // key optional: the probe goes on (and fails to connect here)
			if res.ErrorCode != nil && *res.ErrorCode == CodeNoKey {
				t.Errorf("%s: no_key, but a key is optional", name)
			}
			continue
		}
		checkCode(t, res, flat, false, CodeNoKey, "no API key configured")
	}
}

// TestErrorCodesTransport: the codes of failures before or instead of an
// answer, through the real probe and client.
func TestErrorCodesTransport(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/v1/models", http.StatusMovedPermanently)
	}))
	defer redirect.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()

	private := newTestProber(Options{})
	short := newTestProber(Options{Timeout: 300 * time.Millisecond})
	guarded := NewProber(Options{Now: fixedNow, Timeout: 2 * time.Second, resolve: loopbackResolver})
	noDNS := NewProber(Options{Now: fixedNow, Timeout: 2 * time.Second, resolve: hostsFile(nil)})
	cases := []struct {
		name string
		p    *Prober
		t    Target
		code Code
		err  string
	}{
		{"connection refused", private, Target{Provider: "openai", BaseURL: "http://" + closed + "/v1"}, CodeUnreachable, "connection refused"},
		{"host not found", noDNS, Target{Provider: "openai", BaseURL: "https://api.nowhere.example/v1"}, CodeUnreachable, "host not found"},
		{"timeout", short, Target{Provider: "anthropic", BaseURL: hang.URL}, CodeTimeout, "timeout"},
		{"self-signed", private, Target{Provider: "openai", BaseURL: tlsSrv.URL + "/v1"}, CodeTLSError, "TLS handshake failed"},
		{"https to http", private, Target{Provider: "openai", BaseURL: strings.Replace(hang.URL, "http:", "https:", 1) + "/v1"}, CodeTLSError, "TLS handshake failed"},
		{"resolves to loopback", guarded, Target{Provider: "openai", BaseURL: "https://api.fake-provider.example/v1"}, CodeAddressNotAllowed, "address not allowed"},
		{"literal metadata", guarded, Target{Provider: "openai", BaseURL: "https://169.254.169.254/v1"}, CodeAddressNotAllowed, "base_url address not allowed"},
		{"local name", guarded, Target{Provider: "openai", BaseURL: "https://metadata.google.internal/v1"}, CodeAddressNotAllowed, "base_url address not allowed"},
		{"not https", guarded, Target{Provider: "openai", BaseURL: "http://api.example.com/v1"}, CodeBadBaseURL, "base_url must use https"},
		{"base_url required", guarded, Target{Provider: "azure_openai"}, CodeBadBaseURL, "base_url required"},
		{"redirect", private, Target{Provider: "openai", BaseURL: redirect.URL + "/v1"}, CodeBadBaseURL, "redirect not followed"},
		{"unsupported provider", guarded, Target{Provider: "nope"}, CodeProviderError, "unsupported provider"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.t.APIKey = goodKey
			res := c.p.Probe(context.Background(), c.t)
			b, flat := decodeResult(t, res)
			assertNoKey(t, b, goodKey, nil)
			checkCode(t, res, flat, false, c.code, c.err)
		})
	}
}

// TestErrorCodesRedacted: bodies that echo the key, whole or masked, under
// every status that has a code: the code is right and the key never shows.
func TestErrorCodesRedacted(t *testing.T) {
	key := badOpenAIKey
	cases := []struct {
		name      string
		models    route
		chat      route
		reachable bool
		code      Code
	}{
		{"401 echo", route{status: 401, body: `{"error":{"message":"Incorrect API key provided: ` + key + `.","code":"invalid_api_key"}}`}, route{}, false, CodeInvalidKey},
		{"401 masked", route{status: 401, body: `{"error":{"message":"Incorrect API key provided: sk-4sJHr***************************************w8ZP.","code":"invalid_api_key"}}`}, route{}, false, CodeInvalidKey},
		{"403 echo", route{status: 403, body: `{"error":{"message":"Key ` + key + ` is not allowed in this project"}}`}, route{}, false, CodePermissionDenied},
		{"429 quota echo", ok200(`{"data":[{"id":"gpt-4o-mini"}]}`), route{status: 429, body: `{"error":{"message":"Key ` + key + ` exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`}, true, CodeInsufficientQuota},
		{"429 rate echo", ok200(`{"data":[{"id":"gpt-4o-mini"}]}`), route{status: 429, headers: map[string]string{"retry-after": "1"}, body: `{"error":{"message":"Rate limit reached for key ` + key[:12] + `...","code":"rate_limit_exceeded"}}`}, true, CodeRateLimited},
		{"402 echo", ok200(`{"data":[{"id":"gpt-4o-mini"}]}`), route{status: 402, body: `{"error":{"code":402,"message":"Insufficient credits for ` + key + `"}}`}, true, CodeInsufficientQuota},
		{"400 credit echo", ok200(`{"data":[{"id":"gpt-4o-mini"}]}`), route{status: 400, body: `"Your credit balance is too low for key ` + key[len(key)-8:] + `"`}, true, CodeInsufficientQuota},
		{"500 echo", ok200(`{"data":[{"id":"gpt-4o-mini"}]}`), route{status: 500, body: `{"error":{"message":"internal error for ` + key + `"}}`}, true, CodeProviderError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			routes := map[string]route{"GET /v1/models": c.models}
			if c.chat.status != 0 {
				routes["POST /v1/chat/completions"] = c.chat
			}
			srv := httptest.NewServer(&fakeProvider{routes: routes})
			defer srv.Close()
			res := newTestProber(Options{}).Probe(context.Background(), Target{Provider: "openai", BaseURL: srv.URL + "/v1", APIKey: key})
			b, flat := decodeResult(t, res)
			assertNoKey(t, b, key, []string{"sk-4sJHr", "w8ZP", "***"})
			checkCode(t, res, flat, c.reachable, c.code, "")
		})
	}
}

func TestCodes(t *testing.T) {
	want := "invalid_key permission_denied insufficient_quota rate_limited unreachable timeout tls_error address_not_allowed bad_base_url no_key provider_error key_unreadable"
	var got []string
	for _, c := range Codes() {
		got = append(got, string(c))
		if !c.Valid() {
			t.Errorf("%s not valid", c)
		}
	}
	if strings.Join(got, " ") != want {
		t.Fatalf("Codes() = %v", got)
	}
	failing := map[Code]bool{CodeInvalidKey: true, CodePermissionDenied: true, CodeInsufficientQuota: true, CodeNoKey: true}
	for _, c := range Codes() {
		if c.KeyFailing() != failing[c] {
			t.Errorf("%s.KeyFailing() = %v", c, c.KeyFailing())
		}
	}
	if Code("").Valid() || Code("nope").Valid() || Code("").KeyFailing() {
		t.Fatal("empty or unknown code accepted")
	}
	// The JSON form: a string, or null.
	b, _ := json.Marshal(Result{ErrorCode: func() *Code { c := CodeRateLimited; return &c }()})
	if !strings.Contains(string(b), `"error_code":"rate_limited"`) {
		t.Fatalf("JSON %s", b)
	}
	b, _ = json.Marshal(Result{})
	if !strings.Contains(string(b), `"error_code":null`) {
		t.Fatalf("JSON %s", b)
	}
}

// TestCodesDocumented: openapi.yaml's error_code enum and the README's
// Usage fields table list exactly Codes().
func TestCodesDocumented(t *testing.T) {
	spec, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(spec)
	u := strings.Index(s, "\n    Usage:\n")
	if u < 0 {
		t.Fatal("openapi.yaml: no Usage schema")
	}
	s = s[u:]
	i := strings.Index(s, "\n        error_code:\n")
	if i < 0 {
		t.Fatal("openapi.yaml: Usage has no error_code")
	}
	s = s[i:]
	j := strings.Index(s, "enum: [")
	if j < 0 {
		t.Fatal("openapi.yaml: error_code has no enum")
	}
	s = s[j+len("enum: ["):]
	k := strings.Index(s, "]")
	if k < 0 {
		t.Fatal("openapi.yaml: error_code enum not closed")
	}
	var enum []string
	for _, f := range strings.Split(s[:k], ",") {
		enum = append(enum, strings.TrimSpace(f))
	}
	var want []string
	for _, c := range Codes() {
		want = append(want, string(c))
	}
	if !slices.Equal(enum, append(want, "null")) {
		t.Errorf("openapi.yaml error_code enum = %v, want %v and null", enum, want)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(readme), "\n") {
		// The Usage resource's row (the health table has one of its own).
		if strings.HasPrefix(line, "| `error_code` |") && strings.Contains(line, "usage.Code") {
			row = line
		}
	}
	for _, c := range want {
		if !strings.Contains(row, "`"+c+"`") {
			t.Errorf("README's error_code row lacks %s", c)
		}
	}
}
