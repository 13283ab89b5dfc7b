package usage

import (
	"context"
	"maps"
	"math"
	"net/http/httptest"
	"strconv"
	"testing"
)

// tokenHeaders names, per provider with a token window, the limit and
// remaining headers of each token window ("tokens", "input_tokens",
// "output_tokens") its inference answer carries.
var tokenHeaders = map[string]map[string][2]string{
	"openai":            {"tokens": {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"}},
	"groq":              {"tokens": {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"}},
	"xai":               {"tokens": {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"}},
	"openai_compatible": {"tokens": {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"}},
	"azure_openai":      {"tokens": {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"}},
	"mistral":           {"tokens": {"x-ratelimit-limit-tokens-minute", "x-ratelimit-remaining-tokens-minute"}},
	"together":          {"tokens": {"x-tokenlimit-limit", "x-tokenlimit-remaining"}},
	"fireworks": {
		"input_tokens":  {"x-ratelimit-limit-tokens-prompt", "x-ratelimit-remaining-tokens-prompt"},
		"output_tokens": {"x-ratelimit-limit-tokens-generated", "x-ratelimit-remaining-tokens-generated"},
	},
	"anthropic": {
		"tokens":        {"anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining"},
		"input_tokens":  {"anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining"},
		"output_tokens": {"anthropic-ratelimit-output-tokens-limit", "anthropic-ratelimit-output-tokens-remaining"},
	},
}

// TestPctUsedUnrounded probes every provider with a token window and checks
// the served pct_used is SPEC's used / limit * 100, not rounded: 50 of
// 30,000,000 tokens is 0.000166..., not 0; 1,000 of 120,000 is 0.8333...,
// not 0.83.
func TestPctUsedUnrounded(t *testing.T) {
	shares := []struct {
		limit, used int64
		want        float64 // used / limit * 100, to 15 significant digits
	}{
		{30_000_000, 50, 0.000166666666666667},
		{120_000, 1_000, 0.833333333333333},
	}
	p := newTestProber(Options{})
	seen := map[string]bool{}
	for _, c := range providerCases() {
		wins, ok := tokenHeaders[c.provider]
		if !ok {
			continue
		}
		seen[c.provider] = true
		// The inference route is the one answering with rate-limit headers.
		var inferKey string
		for k, rt := range c.fake.routes {
			if k[:4] == "POST" && rt.status == 200 && c.provider != "cohere" {
				inferKey = k
			}
		}
		if inferKey == "" {
			t.Fatalf("%s: no inference route", c.provider)
		}
		for _, sh := range shares {
			t.Run(c.provider+"/"+strconv.FormatInt(sh.limit, 10), func(t *testing.T) {
				rt := c.fake.routes[inferKey]
				rt.headers = maps.Clone(rt.headers)
				if rt.headers == nil {
					rt.headers = map[string]string{}
				}
				for _, h := range wins {
					rt.headers[h[0]] = strconv.FormatInt(sh.limit, 10)
					rt.headers[h[1]] = strconv.FormatInt(sh.limit-sh.used, 10)
				}
				routes := maps.Clone(c.fake.routes)
				routes[inferKey] = rt
				srv := httptest.NewServer(&fakeProvider{auth: c.fake.auth, bad: c.fake.bad, routes: routes})
				defer srv.Close()
				res := p.Probe(context.Background(), Target{Provider: c.provider, BaseURL: srv.URL + c.basePath, APIKey: goodKey})
				_, flat := decodeResult(t, res)
				for name := range wins {
					got, ok := flat[name+".pct_used"].(float64)
					if !ok {
						t.Fatalf("%s.pct_used = %v, want a number", name, flat[name+".pct_used"])
					}
					if math.Abs(got-sh.want) > 1e-12*sh.want {
						t.Errorf("%s.pct_used = %v, want %v (used %d of %d, unrounded)", name, got, sh.want, sh.used, sh.limit)
					}
					if flat[name+".used"] != float64(sh.used) {
						t.Errorf("%s.used = %v, want %d", name, flat[name+".used"], sh.used)
					}
				}
			})
		}
	}
	if len(seen) != len(tokenHeaders) {
		t.Fatalf("probed %d providers with token windows, want %d", len(seen), len(tokenHeaders))
	}
}
