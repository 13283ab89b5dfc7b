package usage

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// window names the Result window a header feeds.
type window int

const (
	winTokens window = iota
	winInput
	winOutput
	winRequests
	numWindows
)

// field names the part of a window a header feeds.
type field int

const (
	fLimit field = iota
	fRemaining
	fReset
)

// resetFormat is how a provider writes a reset header.
type resetFormat int

const (
	// resetDuration: Go-duration-like relative string (OpenAI "6m0s", Groq
	// "2m59.56s"), with fallbacks for a "d" unit and a plain number of seconds.
	resetDuration resetFormat = iota
	// resetRFC3339: absolute time (Anthropic "2025-08-21T12:40:59Z").
	resetRFC3339
	// resetSeconds: relative integer or decimal seconds (Mistral legacy,
	// Together, Azure). Negative means unknown.
	resetSeconds
	// resetEpochMS: absolute Unix time in milliseconds (OpenRouter 429s).
	resetEpochMS
	// resetAuto: any of the above, told apart by shape.
	resetAuto
)

// headerRule maps one header (lower case) onto a window field.
type headerRule struct {
	name   string
	win    window
	field  field
	format resetFormat
}

// family is a provider's rate-limit header dialect.
type family struct {
	name    string
	rules   []headerRule
	periods [numWindows]string
}

// rules3 maps the limit, remaining and reset header names ("" = none) of one window.
func rules3(win window, format resetFormat, parts ...string) []headerRule {
	var out []headerRule
	for i, n := range parts {
		if n != "" {
			out = append(out, headerRule{name: n, win: win, field: field(i), format: format})
		}
	}
	return out
}

func join(rs ...[]headerRule) []headerRule { return slices.Concat(rs...) }

// openAIRules is x-ratelimit-{limit,remaining,reset}-{requests,tokens}.
func openAIRules(format resetFormat) []headerRule {
	return join(
		rules3(winRequests, format, "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
		rules3(winTokens, format, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
	)
}

var (
	familyOpenAI = &family{name: "openai", rules: openAIRules(resetDuration)}
	familyGroq   = &family{name: "groq", rules: openAIRules(resetDuration),
		periods: [numWindows]string{winTokens: "minute", winRequests: "day"}}
	familyAnthropic = &family{name: "anthropic", rules: join(
		rules3(winRequests, resetRFC3339, "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
		rules3(winTokens, resetRFC3339, "anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
		rules3(winInput, resetRFC3339, "anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"),
		rules3(winOutput, resetRFC3339, "anthropic-ratelimit-output-tokens-limit", "anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"),
	)}
	familyMistral = &family{name: "mistral", rules: join(
		rules3(winRequests, resetSeconds, "x-ratelimit-limit-req-minute", "x-ratelimit-remaining-req-minute", ""),
		rules3(winTokens, resetSeconds, "x-ratelimit-limit-tokens-minute", "x-ratelimit-remaining-tokens-minute", ""),
		// legacy (2025): reset in integer seconds
		rules3(winTokens, resetSeconds, "ratelimitbysize-limit", "ratelimitbysize-remaining", "ratelimitbysize-reset"),
		rules3(winTokens, resetSeconds, "x-ratelimitbysize-limit-minute", "x-ratelimitbysize-remaining-minute", ""),
	), periods: [numWindows]string{winTokens: "minute", winRequests: "minute"}}
	familyTogether = &family{name: "together", rules: join(
		rules3(winRequests, resetSeconds, "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),
		rules3(winTokens, resetSeconds, "x-tokenlimit-limit", "x-tokenlimit-remaining", ""),
	), periods: [numWindows]string{winTokens: "second", winRequests: "second"}}
	familyFireworks = &family{name: "fireworks", rules: join(
		rules3(winRequests, resetAuto, "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", ""),
		rules3(winTokens, resetAuto, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", ""),
		rules3(winInput, resetAuto, "x-ratelimit-limit-tokens-prompt", "x-ratelimit-remaining-tokens-prompt", ""),
		rules3(winOutput, resetAuto, "x-ratelimit-limit-tokens-generated", "x-ratelimit-remaining-tokens-generated", ""),
	), periods: [numWindows]string{winInput: "minute", winOutput: "minute"}}
	familyAzure  = &family{name: "azure_openai", rules: openAIRules(resetSeconds)}
	familyCohere = &family{name: "cohere", rules: join(
		rules3(winRequests, resetAuto, "x-trial-endpoint-call-limit", "x-trial-endpoint-call-remaining", ""),
		rules3(winRequests, resetAuto, "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),
	)}
	familyOpenRouter = &family{name: "openrouter", rules: rules3(winRequests, resetEpochMS,
		"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")}
	// familyNone: the provider sends no rate-limit headers (Gemini, DeepSeek).
	familyNone = &family{name: "none"}
)

// families lists every family, for tests and documentation.
func families() []*family {
	return []*family{familyOpenAI, familyGroq, familyAnthropic, familyMistral, familyTogether,
		familyFireworks, familyAzure, familyCohere, familyOpenRouter, familyNone}
}

// rawWindow is a window as read from headers, before computation.
type rawWindow struct {
	limit, remaining *int64
	reset            *time.Time
}

// windows holds the raw values of all four windows.
type windows [numWindows]rawWindow

// overlay copies the known values of o over w.
func (w *windows) overlay(o windows) {
	for i := range w {
		if o[i].limit != nil {
			w[i].limit = o[i].limit
		}
		if o[i].remaining != nil {
			w[i].remaining = o[i].remaining
		}
		if o[i].reset != nil {
			w[i].reset = o[i].reset
		}
	}
}

func (w *windows) any() bool {
	for _, x := range w {
		if x.limit != nil || x.remaining != nil || x.reset != nil {
			return true
		}
	}
	return false
}

// parseHeaders reads a family's headers. Relative resets count from received.
// The first rule that yields a value for a field wins.
func (f *family) parseHeaders(h http.Header, received time.Time) windows {
	var w windows
	for _, r := range f.rules {
		v := headerValue(h, r.name)
		if v == "" {
			continue
		}
		rw := &w[r.win]
		switch r.field {
		case fLimit:
			if rw.limit == nil {
				rw.limit = parseCount(v)
			}
		case fRemaining:
			if rw.remaining == nil {
				rw.remaining = parseCount(v)
			}
		case fReset:
			if rw.reset == nil {
				if t, ok := parseReset(r.format, v, received); ok {
					rw.reset = &t
				}
			}
		}
	}
	return w
}

// headerValue returns the first value of a header, whatever the case of its
// name on the wire (net/http canonicalises, but a map built by hand may not).
func headerValue(h http.Header, lower string) string {
	if v := h.Get(lower); v != "" {
		return strings.TrimSpace(v)
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, lower) {
			return strings.TrimSpace(vs[0])
		}
	}
	return ""
}

// parseCount reads a non-negative integer count ("150000", "59.0"). Negative
// values (Azure's -1) and junk are unknown.
func parseCount(v string) *int64 {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return nil
		}
		return &n
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<53 || f != math.Trunc(f) {
		return nil
	}
	n := int64(f)
	return &n
}

// maxReset bounds how far ahead a reset may lie; anything further is junk.
const maxReset = 400 * 24 * time.Hour

// minEpoch rejects absolute resets before 2000 (junk or a misread format).
var minEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseReset parses a reset header value in the given format. Relative values
// count from now. ok is false for unknown or implausible values.
func parseReset(format resetFormat, v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 {
		return time.Time{}, false
	}
	var t time.Time
	var ok bool
	switch format {
	case resetDuration:
		var d time.Duration
		if d, ok = parseDurationLoose(v); ok {
			t = now.Add(d)
		}
	case resetRFC3339:
		t, ok = parseRFC3339(v)
	case resetSeconds:
		var d time.Duration
		if d, ok = parseSeconds(v); ok {
			t = now.Add(d)
		} else if d, ok = parseDurationLoose(v); ok {
			t = now.Add(d)
		}
	case resetEpochMS:
		t, ok = parseEpoch(v)
	case resetAuto:
		if t, ok = parseRFC3339(v); ok {
			break
		}
		if t, ok = parseEpoch(v); ok {
			break
		}
		var d time.Duration
		if d, ok = parseDurationLoose(v); ok {
			t = now.Add(d)
		}
	}
	if !ok || t.Before(minEpoch) || t.After(now.Add(maxReset)) {
		return time.Time{}, false
	}
	return t.UTC().Truncate(time.Microsecond), true
}

func parseRFC3339(v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// parseEpoch reads Unix milliseconds (>= 1e12) or seconds (>= 1e9).
func parseEpoch(v string) (time.Time, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	switch {
	case f >= 1e12 && f < 1e14:
		return time.UnixMilli(int64(f)), true
	case f >= 1e9 && f < 1e11:
		return time.Unix(int64(f), 0), true
	}
	return time.Time{}, false
}

// parseSeconds reads a non-negative decimal number of seconds.
func parseSeconds(v string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxReset.Seconds() {
		return 0, false
	}
	return time.Duration(math.Round(f * float64(time.Second))), true
}

var unitNanos = map[string]float64{
	"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6,
	"s": 1e9, "m": 60e9, "h": 3600e9, "d": 86400e9,
}

// parseDurationLoose reads a Go-duration-like string ("6m0s", "2m59.56s",
// "12ms"), also accepting a "d" unit ("1d2h") and a plain number of seconds
// ("20", "7.66"). Negative and out-of-range values are rejected.
func parseDurationLoose(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if d, ok := parseSeconds(v); ok {
		return d, true
	}
	var total float64
	s := v
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, false
		}
		num, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, false
		}
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		mult, ok := unitNanos[s[:j]]
		if !ok {
			return 0, false
		}
		s = s[j:]
		total += num * mult
		if total > float64(maxReset) {
			return 0, false
		}
	}
	return time.Duration(math.Round(total)), true
}

// tokenWindow computes a Result token window from raw values.
func (r rawWindow) tokenWindow(checkedAt time.Time, period string) TokenWindow {
	w := TokenWindow{Limit: r.limit, Remaining: r.remaining, Period: period}
	if r.limit == nil && r.remaining == nil {
		w.Period = ""
	}
	if r.limit != nil && r.remaining != nil {
		used := max(*r.limit-*r.remaining, 0)
		w.Used = &used
		if *r.limit > 0 {
			// SPEC: pct_used = used / limit * 100, unrounded (50 of
			// 30,000,000 tokens is 0.000166..., not 0).
			pct := float64(used) / float64(*r.limit) * 100
			w.PctUsed = &pct
		}
	}
	w.ResetAt, w.ResetInMS = r.resetFields(checkedAt)
	return w
}

// requestWindow computes the Result request window from raw values.
func (r rawWindow) requestWindow(checkedAt time.Time, period string) RequestWindow {
	w := RequestWindow{Limit: r.limit, Remaining: r.remaining, Period: period}
	if r.limit == nil && r.remaining == nil {
		w.Period = ""
	}
	w.ResetAt, w.ResetInMS = r.resetFields(checkedAt)
	return w
}

// resetFields gives reset_at and reset_in_ms (from checkedAt, never negative).
// A reset without a limit or remaining value describes nothing (Azure sends
// limit -1, remaining -1, reset 0): it is dropped.
func (r rawWindow) resetFields(checkedAt time.Time) (*time.Time, *int64) {
	if r.reset == nil || (r.limit == nil && r.remaining == nil) {
		return nil, nil
	}
	at := r.reset.UTC().Truncate(time.Microsecond)
	ms := max(at.Sub(checkedAt).Milliseconds(), 0)
	return &at, &ms
}

// isRateLimitHeader reports whether a lower-case header name is about rate
// limits (for debug_rate_limit_headers).
func isRateLimitHeader(name string) bool {
	switch {
	case strings.Contains(name, "ratelimit"), strings.Contains(name, "rate-limit"),
		strings.Contains(name, "tokenlimit"),
		name == "retry-after", name == "retry-after-ms",
		strings.HasPrefix(name, "x-trial-endpoint-call"),
		name == "x-endpoint-monthly-call-limit",
		strings.HasPrefix(name, "anthropic-priority-"):
		return true
	}
	return false
}

// rateLimitHeaderNames returns the lower-case rate-limit header names in h.
func rateLimitHeaderNames(h http.Header) []string {
	var out []string
	for k := range h {
		n := strings.ToLower(k)
		if len(n) <= 100 && isRateLimitHeader(n) && validHeaderName(n) {
			out = append(out, n)
		}
	}
	return out
}

func validHeaderName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return n != ""
}
