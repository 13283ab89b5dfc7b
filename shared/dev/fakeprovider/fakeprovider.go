// Package fakeprovider is a fake AI provider for tests and benchmarks. It
// answers the usage probe as OpenAI does: a model list, and a one-token
// chat completion with OpenAI's x-ratelimit-* headers; a key it does not
// know gets OpenAI's 401, which echoes the key's first 8 and last 4
// characters, so redaction is tested against the real thing. It listens
// on loopback, which the probe reaches only with
// PROBE_ALLOW_PRIVATE_NETWORKS=1.
package fakeprovider

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Rate-limit figures the fake sends on a chat completion.
const (
	RequestsLimit     = 5000
	RequestsRemaining = 4999
	RequestsReset     = "12ms"
	TokensLimit       = 160000
	TokensRemaining   = 159976
	TokensReset       = "6m0s"
	Model             = "gpt-4o-mini"
)

// OpenAI is the fake's handler. It is safe for concurrent use.
type OpenAI struct {
	keys map[string]bool // nil: any key is accepted

	mu   sync.Mutex
	seen []string

	reject   atomic.Bool                 // every key is refused (Reject)
	requests atomic.Pointer[requestsWin] // nil: the constants above
}

type requestsWin struct {
	limit, remaining int64
	reset            string
}

// Reject makes the fake refuse every key, as OpenAI refuses an unknown one,
// until Reject(false): a key that starts failing and later recovers.
func (f *OpenAI) Reject(on bool) { f.reject.Store(on) }

// SetRequests sets the request window a chat completion reports (its
// x-ratelimit-*-requests headers), in place of the constants above.
func (f *OpenAI) SetRequests(limit, remaining int64, reset string) {
	f.requests.Store(&requestsWin{limit: limit, remaining: remaining, reset: reset})
}

// NewOpenAI accepts the given keys, or any key when none is given.
func NewOpenAI(keys ...string) *OpenAI {
	f := &OpenAI{}
	if len(keys) > 0 {
		f.keys = map[string]bool{}
		for _, k := range keys {
			f.keys[k] = true
		}
	}
	return f
}

// Seen returns the bearer keys of the requests so far, in order.
func (f *OpenAI) Seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	f.seen = append(f.seen, key)
	f.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if f.reject.Load() || f.keys != nil && !f.keys[key] {
		masked := key
		if len(key) > 12 {
			masked = key[:8] + strings.Repeat("*", len(key)-12) + key[len(key)-4:]
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, masked)
		return
	}
	switch r.URL.Path {
	case "/v1/models":
		_, _ = fmt.Fprintf(w, `{"object":"list","data":[{"id":%q,"object":"model","created":1,"owned_by":"openai"}]}`, Model)
	case "/v1/chat/completions":
		rw := requestsWin{limit: RequestsLimit, remaining: RequestsRemaining, reset: RequestsReset}
		if p := f.requests.Load(); p != nil {
			rw = *p
		}
		h.Set("x-ratelimit-limit-requests", fmt.Sprint(rw.limit))
		h.Set("x-ratelimit-remaining-requests", fmt.Sprint(rw.remaining))
		h.Set("x-ratelimit-reset-requests", rw.reset)
		h.Set("x-ratelimit-limit-tokens", fmt.Sprint(TokensLimit))
		h.Set("x-ratelimit-remaining-tokens", fmt.Sprint(TokensRemaining))
		h.Set("x-ratelimit-reset-tokens", TokensReset)
		_, _ = fmt.Fprintf(w, `{"id":"c","object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"H"},"finish_reason":"length"}],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`, Model)
	default:
		http.NotFound(w, r)
	}
}
