package usage

import "strings"

// Code is the typed reason of a probe result (Result.ErrorCode, JSON
// error_code), beside the short human Error. It is null when the probe found
// no problem, and otherwise one of the constants below; the set is closed
// and documented in the README's Usage fields table and openapi.yaml.
//
// The codes a probe derives, per provider (status codes and bodies as
// /shared/providers.md records them):
//
//   - CodeInvalidKey: the provider rejected the key: any 401 (OpenAI, Groq,
//     Together "invalid_api_key"; Anthropic "invalid x-api-key"; Mistral,
//     DeepSeek, OpenRouter "User not found.", Cohere "invalid api token",
//     Azure "invalid subscription key"), Gemini's 400 with API_KEY_INVALID,
//     xAI's 400 with a bare JSON string "Incorrect API key provided", a
//     disabled xAI key, Cohere's check-api-key {"valid": false}.
//   - CodePermissionDenied: the key is known but may not do what the probe
//     asked: a 403 (Gemini PERMISSION_DENIED, Anthropic permission_error,
//     Azure network rules, an OpenAI restricted key missing a scope), a
//     blocked xAI key or team.
//   - CodeInsufficientQuota: no credit or balance left: a 402 (OpenRouter,
//     DeepSeek "Insufficient Balance", Fireworks), OpenAI's 429 with code
//     insufficient_quota, DeepSeek's balance is_available false, OpenRouter's
//     key limit_remaining 0, an out-of-credit message (Anthropic "credit
//     balance is too low", xAI "doesn't have any credits").
//   - CodeRateLimited: a valid key that is throttled (429): Reachable stays
//     true.
//   - CodeUnreachable: no answer: DNS failure, connection refused or reset,
//     host or network unreachable.
//   - CodeTimeout: the probe's deadline passed (or its caller gave up).
//   - CodeTLSError: the TLS handshake or certificate check failed.
//   - CodeAddressNotAllowed: the SSRF guard refused the base URL's address
//     (a literal or resolved loopback, private, link-local, metadata ...).
//   - CodeBadBaseURL: the base URL cannot be used before the provider is
//     asked anything: missing where required, not https, malformed, or
//     answered with a redirect (never followed).
//   - CodeNoKey: the credential has no API key and the provider needs one.
//   - CodeProviderError: anything else: a 5xx, another 4xx (a 404 for a
//     wrong model or path), an unreadable answer, an unsupported provider.
//
// And one the service sets before any probe (liveusage):
//
//   - CodeKeyUnreadable: the stored key could not be read from the key
//     store (an outage of ours, not the provider's or the key's).
type Code string

// The error codes. See Code.
const (
	CodeInvalidKey        Code = "invalid_key"
	CodePermissionDenied  Code = "permission_denied"
	CodeInsufficientQuota Code = "insufficient_quota"
	CodeRateLimited       Code = "rate_limited"
	CodeUnreachable       Code = "unreachable"
	CodeTimeout           Code = "timeout"
	CodeTLSError          Code = "tls_error"
	CodeAddressNotAllowed Code = "address_not_allowed"
	CodeBadBaseURL        Code = "bad_base_url"
	CodeNoKey             Code = "no_key"
	CodeProviderError     Code = "provider_error"
	CodeKeyUnreadable     Code = "key_unreadable"
)

// Codes returns every Code, in the documented order.
func Codes() []Code {
	return []Code{CodeInvalidKey, CodePermissionDenied, CodeInsufficientQuota, CodeRateLimited,
		CodeUnreachable, CodeTimeout, CodeTLSError, CodeAddressNotAllowed, CodeBadBaseURL,
		CodeNoKey, CodeProviderError, CodeKeyUnreadable}
}

// KeyFailing reports whether c says the key itself cannot be used, so that a
// credential's health is failing: invalid_key, permission_denied,
// insufficient_quota and no_key. rate_limited is not failing (the key is
// valid, only throttled). The transport and configuration codes
// (unreachable, timeout, tls_error, address_not_allowed, bad_base_url),
// provider_error and key_unreadable say nothing about the key: health should not call the key
// failing on them (unknown, or keep the last verdict).
func (c Code) KeyFailing() bool {
	switch c {
	case CodeInvalidKey, CodePermissionDenied, CodeInsufficientQuota, CodeNoKey:
		return true
	}
	return false
}

// Valid reports whether c is one of Codes().
func (c Code) Valid() bool {
	for _, k := range Codes() {
		if c == k {
			return true
		}
	}
	return false
}

// reason is a problem found by a probe: its code and short text (not yet
// redacted).
type reason struct {
	code Code
	text string
}

// outOfCredit reports a provider message that says the account has no
// credit left (Anthropic's 400 "Your credit balance is too low", xAI's 403
// "... doesn't have any credits", OpenRouter's and DeepSeek's wording).
func outOfCredit(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"credit balance is too low", "insufficient balance", "insufficient credits",
		"doesn't have any credits", "does not have any credits", "out of credits"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}
