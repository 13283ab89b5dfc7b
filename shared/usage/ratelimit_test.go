package usage

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func i64(v int64) *int64 { return &v }

// want describes one window: limit, remaining (-1 = unknown) and the reset
// offset from t0 (-1 = unknown).
type want struct {
	limit, remaining int64
	reset            time.Duration
}

func checkWindow(t *testing.T, name string, got rawWindow, w want) {
	t.Helper()
	eq := func(p *int64, v int64) bool {
		if v < 0 {
			return p == nil
		}
		return p != nil && *p == v
	}
	if !eq(got.limit, w.limit) || !eq(got.remaining, w.remaining) {
		t.Errorf("%s: limit/remaining = %v/%v, want %d/%d", name, ptrStr(got.limit), ptrStr(got.remaining), w.limit, w.remaining)
	}
	switch {
	case w.reset < 0 && got.reset != nil:
		t.Errorf("%s: reset = %v, want unknown", name, got.reset)
	case w.reset >= 0 && (got.reset == nil || got.reset.Sub(t0) != w.reset):
		t.Errorf("%s: reset = %v, want t0+%v", name, got.reset, w.reset)
	}
}

func ptrStr(p *int64) any {
	if p == nil {
		return "nil"
	}
	return *p
}

var none = want{-1, -1, -1}

func TestHeaderFamilies(t *testing.T) {
	cases := []struct {
		name    string
		fam     *family
		h       http.Header
		windows [numWindows]want // tokens, input, output, requests
	}{
		{"openai", familyOpenAI, hdr(
			"X-Ratelimit-Limit-Requests", "60", "X-Ratelimit-Remaining-Requests", "59", "X-Ratelimit-Reset-Requests", "1s",
			"X-Ratelimit-Limit-Tokens", "150000", "X-Ratelimit-Remaining-Tokens", "149984", "X-Ratelimit-Reset-Tokens", "6m0s"),
			[numWindows]want{{150000, 149984, 6 * time.Minute}, none, none, {60, 59, time.Second}}},
		{"openai ms", familyOpenAI, hdr(
			"x-ratelimit-limit-requests", "5000", "x-ratelimit-remaining-requests", "4999", "x-ratelimit-reset-requests", "12ms",
			"x-ratelimit-limit-tokens", "160000", "x-ratelimit-remaining-tokens", "159976", "x-ratelimit-reset-tokens", "9ms"),
			[numWindows]want{{160000, 159976, 9 * time.Millisecond}, none, none, {5000, 4999, 12 * time.Millisecond}}},
		{"openai absent", familyOpenAI, hdr("openai-version", "2020-10-01"), [numWindows]want{none, none, none, none}},
		{"groq", familyGroq, hdr(
			"x-ratelimit-limit-requests", "14400", "x-ratelimit-remaining-requests", "14370", "x-ratelimit-reset-requests", "2m59.56s",
			"x-ratelimit-limit-tokens", "18000", "x-ratelimit-remaining-tokens", "17997", "x-ratelimit-reset-tokens", "7.66s"),
			[numWindows]want{{18000, 17997, 7660 * time.Millisecond}, none, none, {14400, 14370, 179560 * time.Millisecond}}},
		{"anthropic", familyAnthropic, hdr(
			"anthropic-ratelimit-requests-limit", "1000", "anthropic-ratelimit-requests-remaining", "999", "anthropic-ratelimit-requests-reset", "2026-05-20T22:03:58.123456Z",
			"anthropic-ratelimit-tokens-limit", "96000", "anthropic-ratelimit-tokens-remaining", "96000", "anthropic-ratelimit-tokens-reset", "2026-05-20T22:04:57.123456Z",
			"anthropic-ratelimit-input-tokens-limit", "80000", "anthropic-ratelimit-input-tokens-remaining", "80000", "anthropic-ratelimit-input-tokens-reset", "2026-05-20T22:04:57.123456Z",
			"anthropic-ratelimit-output-tokens-limit", "16000", "anthropic-ratelimit-output-tokens-remaining", "15000", "anthropic-ratelimit-output-tokens-reset", "2026-05-20T23:03:57.123456+01:00",
			"anthropic-priority-input-tokens-limit", "10000"),
			[numWindows]want{{96000, 96000, time.Minute}, {80000, 80000, time.Minute}, {16000, 15000, 0}, {1000, 999, time.Second}}},
		{"anthropic bad reset", familyAnthropic, hdr("anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-reset", "6m0s"),
			[numWindows]want{none, none, none, {50, -1, -1}}},
		{"mistral new", familyMistral, hdr(
			"x-ratelimit-limit-tokens-minute", "5000000", "x-ratelimit-remaining-tokens-minute", "4999911", "x-ratelimit-tokens-query-cost", "52",
			"x-ratelimit-limit-req-minute", "720", "x-ratelimit-remaining-req-minute", "717"),
			[numWindows]want{{5000000, 4999911, -1}, none, none, {720, 717, -1}}},
		{"mistral legacy", familyMistral, hdr(
			"ratelimitbysize-limit", "500000", "ratelimitbysize-remaining", "467993", "ratelimitbysize-reset", "40", "ratelimitbysize-query-cost", "32007",
			"x-ratelimitbysize-limit-minute", "500000", "x-ratelimitbysize-remaining-minute", "467993",
			"x-ratelimitbysize-limit-month", "1000000000", "x-ratelimitbysize-remaining-month", "999967993"),
			[numWindows]want{{500000, 467993, 40 * time.Second}, none, none, none}},
		{"mistral zero plan", familyMistral, hdr("x-ratelimit-limit-req-minute", "0", "x-ratelimit-remaining-req-minute", "0"),
			[numWindows]want{none, none, none, {0, 0, -1}}},
		{"together", familyTogether, hdr(
			"x-ratelimit-limit", "10", "x-ratelimit-remaining", "9", "x-ratelimit-reset", "1",
			"x-tokenlimit-limit", "2000", "x-tokenlimit-remaining", "1991", "x-ratelimit-limit-dynamic", "12"),
			[numWindows]want{{2000, 1991, -1}, none, none, {10, 9, time.Second}}},
		{"together fractional reset", familyTogether, hdr("x-ratelimit-limit", "10", "x-ratelimit-reset", "0.5"),
			[numWindows]want{none, none, none, {10, -1, 500 * time.Millisecond}}},
		{"fireworks", familyFireworks, hdr(
			"x-ratelimit-limit-requests", "6000", "x-ratelimit-remaining-requests", "5999",
			"x-ratelimit-limit-tokens-prompt", "7200000", "x-ratelimit-remaining-tokens-prompt", "7193993",
			"x-ratelimit-limit-tokens-cache-adjusted-prompt", "900000", "x-ratelimit-remaining-tokens-cache-adjusted-prompt", "899000",
			"x-ratelimit-limit-tokens-generated", "72000", "x-ratelimit-remaining-tokens-generated", "69338", "x-ratelimit-over-limit", "no"),
			[numWindows]want{none, {7200000, 7193993, -1}, {72000, 69338, -1}, {6000, 5999, -1}}},
		{"azure", familyAzure, hdr(
			"x-ratelimit-remaining-requests", "99", "x-ratelimit-remaining-tokens", "99000",
			"x-ratelimit-limit-tokens", "100000", "x-ratelimit-reset-tokens", "30"),
			[numWindows]want{{100000, 99000, 30 * time.Second}, none, none, {-1, 99, -1}}},
		{"azure unknown", familyAzure, hdr("x-ratelimit-limit-tokens", "-1", "x-ratelimit-remaining-tokens", "-1", "x-ratelimit-reset-tokens", "0"),
			[numWindows]want{{-1, -1, 0}, none, none, none}}, // raw reset kept; dropped when computed (see TestWindowComputation)
		{"cohere trial", familyCohere, hdr("x-endpoint-monthly-call-limit", "1000", "x-trial-endpoint-call-limit", "20", "x-trial-endpoint-call-remaining", "19"),
			[numWindows]want{none, none, none, {20, 19, -1}}},
		{"openrouter 429", familyOpenRouter, hdr("X-RateLimit-Limit", "50", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1779315837123"),
			[numWindows]want{none, none, none, {50, 0, time.UnixMilli(1779315837123).Sub(t0)}}},
		{"none", familyNone, hdr("x-ratelimit-limit-requests", "5"), [numWindows]want{none, none, none, none}},
		{"junk values", familyOpenAI, hdr("x-ratelimit-limit-requests", "lots", "x-ratelimit-remaining-requests", "1e99", "x-ratelimit-reset-requests", "soon"),
			[numWindows]want{none, none, none, none}},
	}
	names := []string{"tokens", "input_tokens", "output_tokens", "requests"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.fam.parseHeaders(c.h, t0)
			for i := range numWindows {
				checkWindow(t, names[i], got[i], c.windows[i])
			}
		})
	}
}

func TestParseReset(t *testing.T) {
	cases := []struct {
		format resetFormat
		in     string
		want   time.Duration // -1 = not parsed
	}{
		{resetDuration, "1s", time.Second},
		{resetDuration, "6m0s", 6 * time.Minute},
		{resetDuration, "12ms", 12 * time.Millisecond},
		{resetDuration, "2m59.56s", 179560 * time.Millisecond},
		{resetDuration, "7.66s", 7660 * time.Millisecond},
		{resetDuration, "1h2m3s", time.Hour + 2*time.Minute + 3*time.Second},
		{resetDuration, "1d", 24 * time.Hour},
		{resetDuration, "1d12h", 36 * time.Hour},
		{resetDuration, "20", 20 * time.Second},
		{resetDuration, "0.5", 500 * time.Millisecond},
		{resetDuration, "250us", 0}, // truncated to microseconds: 250 µs
		{resetDuration, "0s", 0},
		{resetDuration, "-1s", -1},
		{resetDuration, "", -1},
		{resetDuration, "s", -1},
		{resetDuration, "5x", -1},
		{resetDuration, "1.2.3s", -1},
		{resetDuration, "9999d", -1},
		{resetRFC3339, "2026-05-20T22:04:38Z", 40876544 * time.Microsecond},
		{resetRFC3339, "2026-05-20T22:04:38.5+00:00", 41376544 * time.Microsecond},
		{resetRFC3339, "40", -1},
		{resetRFC3339, "1999-01-01T00:00:00Z", -1},
		{resetSeconds, "40", 40 * time.Second},
		{resetSeconds, "-1", -1},
		{resetSeconds, "1.5", 1500 * time.Millisecond},
		{resetSeconds, "6m0s", 6 * time.Minute},
		{resetEpochMS, "1779315837123", time.UnixMilli(1779315837123).Sub(t0)},
		{resetEpochMS, "5", -1},
		{resetAuto, "2026-05-20T22:04:38Z", 40876544 * time.Microsecond},
		{resetAuto, "1779315900", time.Unix(1779315900, 0).Sub(t0)},
		{resetAuto, "30", 30 * time.Second},
		{resetAuto, "1m", time.Minute},
	}
	for _, c := range cases {
		got, ok := parseReset(c.format, c.in, t0)
		if c.want == -1 {
			if ok {
				t.Errorf("parseReset(%d, %q) = %v, want unknown", c.format, c.in, got)
			}
			continue
		}
		wantT := t0.Add(c.want).Truncate(time.Microsecond)
		if c.in == "250us" {
			wantT = t0.Add(250 * time.Microsecond)
		}
		if !ok || !got.Equal(wantT) {
			t.Errorf("parseReset(%d, %q) = %v, %v; want %v", c.format, c.in, got, ok, wantT)
		}
	}
}

func TestWindowComputation(t *testing.T) {
	reset := t0.Add(41 * time.Second)
	past := t0.Add(-time.Second)
	cases := []struct {
		name string
		raw  rawWindow
		used *int64
		pct  *float64
		ms   *int64
	}{
		{"spec example", rawWindow{i64(80000), i64(79000), &reset}, i64(1000), fp(1.25), i64(41000)},
		{"remaining only", rawWindow{nil, i64(5), &reset}, nil, nil, i64(41000)},
		{"limit zero", rawWindow{i64(0), i64(0), nil}, i64(0), nil, nil},
		{"remaining above limit", rawWindow{i64(10), i64(12), nil}, i64(0), fp(0), nil},
		{"reset in past", rawWindow{i64(10), i64(5), &past}, i64(5), fp(50), i64(0)},
		{"reset without values", rawWindow{nil, nil, &reset}, nil, nil, nil},
		{"thirds", rawWindow{i64(3), i64(2), nil}, i64(1), fp(1.0 / 3 * 100), nil},
		{"tiny share", rawWindow{i64(30_000_000), i64(29_999_950), nil}, i64(50), fp(50.0 / 30_000_000 * 100), nil},
		{"sixths", rawWindow{i64(120_000), i64(119_000), nil}, i64(1000), fp(1000.0 / 120_000 * 100), nil},
	}
	for _, c := range cases {
		w := c.raw.tokenWindow(t0, "minute")
		if !eqI(w.Used, c.used) || !eqF(w.PctUsed, c.pct) || !eqI(w.ResetInMS, c.ms) {
			t.Errorf("%s: used %v pct %v reset_in_ms %v", c.name, ptrStr(w.Used), w.PctUsed, ptrStr(w.ResetInMS))
		}
		r := c.raw.requestWindow(t0, "")
		if !eqI(r.ResetInMS, c.ms) {
			t.Errorf("%s: request reset_in_ms %v", c.name, ptrStr(r.ResetInMS))
		}
	}
}

func fp(f float64) *float64 { return &f }
func eqI(a, b *int64) bool  { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// eqF compares within a relative 1e-12 (the last bits of a float64
// quotient depend on how it is computed).
func eqF(a, b *float64) bool {
	return a == nil && b == nil || a != nil && b != nil && math.Abs(*a-*b) <= 1e-12*math.Abs(*b)
}

func TestRateLimitHeaderNames(t *testing.T) {
	h := hdr("X-Ratelimit-Limit-Requests", "1", "Retry-After", "2", "Anthropic-Ratelimit-Tokens-Reset", "x",
		"X-Tokenlimit-Limit", "3", "X-Trial-Endpoint-Call-Limit", "20", "Content-Type", "json", "X-Request-Id", "r")
	got := rateLimitHeaderNames(h)
	want := map[string]bool{"x-ratelimit-limit-requests": true, "retry-after": true, "anthropic-ratelimit-tokens-reset": true,
		"x-tokenlimit-limit": true, "x-trial-endpoint-call-limit": true}
	if len(got) != len(want) {
		t.Fatalf("names = %v", got)
	}
	for _, n := range got {
		if !want[n] {
			t.Errorf("unexpected %q", n)
		}
	}
}

func BenchmarkParseHeadersAnthropic(b *testing.B) {
	h := hdr(
		"anthropic-ratelimit-requests-limit", "1000", "anthropic-ratelimit-requests-remaining", "999", "anthropic-ratelimit-requests-reset", "2026-05-20T22:03:58Z",
		"anthropic-ratelimit-tokens-limit", "96000", "anthropic-ratelimit-tokens-remaining", "96000", "anthropic-ratelimit-tokens-reset", "2026-05-20T22:04:57Z",
		"anthropic-ratelimit-input-tokens-limit", "80000", "anthropic-ratelimit-input-tokens-remaining", "80000", "anthropic-ratelimit-input-tokens-reset", "2026-05-20T22:04:57Z",
		"content-type", "application/json", "request-id", "req_1")
	for b.Loop() {
		familyAnthropic.parseHeaders(h, t0)
		rateLimitHeaderNames(h)
	}
}

func BenchmarkParseHeadersOpenAI(b *testing.B) {
	h := hdr("x-ratelimit-limit-requests", "5000", "x-ratelimit-remaining-requests", "4999", "x-ratelimit-reset-requests", "12ms",
		"x-ratelimit-limit-tokens", "160000", "x-ratelimit-remaining-tokens", "159976", "x-ratelimit-reset-tokens", "2m59.56s")
	for b.Loop() {
		familyOpenAI.parseHeaders(h, t0)
	}
}
