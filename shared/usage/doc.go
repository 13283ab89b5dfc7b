// Package usage is the live-usage probe: given a provider, a base URL and an
// API key, it finds out what the key can do (its model list) and how much of
// the provider's rate-limit windows is left. Pure Go, no AWS.
//
// # API
//
//	p := usage.NewProber(usage.Options{
//		AllowPrivateNetworks: os.Getenv("PROBE_ALLOW_PRIVATE_NETWORKS") == "1",
//		Timeout:              10 * time.Second, // whole probe; default 10 s
//		MaxBodyBytes:         4 << 20,          // per response; default 4 MiB
//	})
//	res := p.Probe(ctx, usage.Target{Provider: "openai", AccountKey: "default", BaseURL: "", APIKey: key})
//	b, _ := json.Marshal(res) // SPEC's Usage resource; round-trips through json.Unmarshal
//
//	func NewProber(opts Options) *Prober
//	func (p *Prober) Probe(ctx context.Context, t Target) Result // never fails
//	func ValidateBaseURL(provider, raw string, allowPrivate bool) error
//	func Redact(s string, secrets ...string) string
//	func ProviderNames() []string // equals credentials.Providers()
//	func NewHTTPClient(allowPrivate bool) *http.Client // the SSRF-safe client
//	func AddressAllowed(ip netip.Addr) bool
//	var ErrAddressNotAllowed error
//	type Code string // Result.ErrorCode: CodeInvalidKey, CodePermissionDenied, ...
//	func Codes() []Code
//	func (c Code) KeyFailing() bool
//
// Options.Client replaces the SSRF-safe client (tests only). A Prober is safe for concurrent use and holds no per-probe state; build one
// at cold start and share it (the API handlers and the scheduled refresh).
// Probe never returns an error: an unsupported provider, a refused base URL,
// a missing key, an unreachable provider, a rejected key, a timeout, a TLS
// failure or a refused address is Reachable=false with a short Error such as
// "authentication failed (HTTP 401): invalid x-api-key", "timeout",
// "TLS handshake failed", "address not allowed", "connection refused". A key
// that is valid but throttled or out of credit is Reachable=true with Error
// "rate limited (HTTP 429)" or "no quota (...)". Every Error comes with its
// typed ErrorCode (see Code; nil exactly when Error is). Every Error and Note passes
// through Redact with the key; model ids and header names that carry a run of
// the key are dropped.
//
// ValidateBaseURL is for 422s at create, update and test: it refuses malformed
// URLs, non-https (unless allowPrivate), userinfo, query or fragment, literal
// non-public addresses in any spelling (2130706433, 0177.0.0.1, 0x7f.1,
// [::ffff:127.0.0.1], [::1], 0.0.0.0, 169.254.169.254, [fd00:ec2::254], ...)
// and local names (localhost, *.localhost, *.internal, *.local, dotless
// names). Its messages are short and safe to show. The empty string is valid.
// Addresses that only DNS reveals are refused at dial time: the client's
// dialer resolves, checks every address, dials only the checked address, and
// its net.Dialer Control checks again, so DNS rebinding fails.
//
// # Result fields beyond SPEC's Usage resource
//
// SPEC allows new response fields; these are added:
//
//   - error_code: Error's typed reason, one of invalid_key,
//     permission_denied, insufficient_quota, rate_limited, unreachable,
//     timeout, tls_error, address_not_allowed, bad_base_url, no_key,
//     provider_error (see Code); null when the probe found no problem.
//   - tokens/input_tokens/output_tokens/requests "period": the window length
//     the provider documents ("second", "minute", "day"); omitted when unknown
//     or when the window is empty. Groq: requests per day, tokens per minute;
//     Together: per second; Mistral: per minute; Fireworks input/output per
//     minute.
//   - output_tokens: a token window like tokens (Anthropic
//     anthropic-ratelimit-output-tokens-*, Fireworks tokens-generated); all
//     null for other providers.
//   - windows_exposed: true when this probe read at least one window value
//     from rate-limit headers; false when the provider sent none (Gemini,
//     DeepSeek, OpenRouter and Cohere production keys never do); null when the
//     probe could not tell (unreachable, rejected key).
//   - note: a short human explanation, e.g. "Gemini exposes no rate-limit
//     windows in headers; quota appears only in HTTP 429 bodies", "model list
//     unavailable (HTTP 500)", "name a deployment in base_url ...". Null when
//     there is nothing to say.
//   - balance (DeepSeek only, omitted otherwise): GET /user/balance as sent,
//     {"is_available": bool, "balance_infos": [{"currency", "total_balance",
//     "granted_balance", "topped_up_balance"}]}, amounts as strings.
//   - credits (OpenRouter only): GET /api/v1/key without its "label" (a masked
//     key): {"limit", "limit_remaining", "limit_reset", "usage", "usage_daily",
//     "usage_weekly", "usage_monthly", "is_free_tier",
//     "free_model_daily_requests": {"used", "limit", "remaining"}}.
//   - key_status (xAI only): GET /v1/api-key without "redacted_api_key" or the
//     key's name: {"api_key_blocked", "api_key_disabled", "team_blocked",
//     "acls"}. A blocked or disabled key is Reachable=false.
//
// # What each provider probes
//
// Auth is always in headers (Bearer; Anthropic x-api-key + anthropic-version:
// 2023-06-01; Gemini x-goog-api-key, never ?key=; Azure api-key). Step 1 is
// the zero-cost model list (ids into models), step 2 any zero-cost quota
// endpoint, step 3, only where windows come on inference, one chat request
// with max_tokens 1 whose usage fills sample_*.
//
//	openai       GET {base}/models; POST chat/completions gpt-4.1-nano (else gpt-4o-mini); x-ratelimit-* (reset "6m0s")
//	groq         same dialect, base .../openai/v1, llama-3.1-8b-instant; requests=RPD, tokens=TPM
//	mistral      same dialect, mistral-small-latest; x-ratelimit-*-{req,tokens}-minute and legacy ratelimitbysize-* (reset seconds)
//	together     same dialect, models is a bare array, meta-llama/Llama-3.2-3B-Instruct-Turbo; x-ratelimit-* (requests/s), x-tokenlimit-*
//	fireworks    same dialect, base .../inference/v1 (a 500 model list is not a bad key), accounts/fireworks/models/llama-v3p1-8b-instruct; prompt -> input_tokens, generated -> output_tokens
//	xai          same dialect + GET {base}/api-key (key_status), grok-3-mini; OpenAI-style headers read if present
//	openai_compatible  same dialect at the required base_url, probes the first listed model; key optional
//	deepseek     GET {base}/models, GET /user/balance; no inference (no rate limits)
//	openrouter   GET {base}/models, GET {base}/key (credits); no inference (no headers on success)
//	anthropic    GET /v1/models?limit=1000; POST /v1/messages claude-haiku-4-5 (else a listed haiku); anthropic-ratelimit-* (RFC 3339 resets)
//	gemini       GET /v1beta/models?pageSize=1000 ("models/" prefix stripped); no windows exist
//	cohere       GET /v1/models?page_size=1000, POST /v1/check-api-key; trial headers x-trial-endpoint-call-*; no chat (would burn trial calls)
//	azure_openai base https://R.openai.azure.com/openai/deployments/D: GET /openai/models?api-version=2024-10-21,
//	             POST .../deployments/D/chat/completions; x-ratelimit-* (reset seconds, -1 = unknown). Without a deployment: model list only.
//
// Computation: used = limit - remaining (never below 0), pct_used = used /
// limit * 100, not rounded (null when limit is 0), reset_at absolute
// (relative resets count from when the answer arrived), reset_in_ms from
// checked_at, never negative. Unknown is null, never 0; negative header values
// (Azure's -1) are unknown. debug_rate_limit_headers lists the rate-limit
// header names seen on any response (lower case, sorted, no values), null when
// none.
package usage
