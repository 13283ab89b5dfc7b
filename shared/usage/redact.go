package usage

import (
	"net/url"
	"regexp"
	"strings"
)

// redactedMark replaces what Redact removes.
const redactedMark = "[REDACTED]"

// minSecretRun is the shortest run of a secret that Redact removes.
const minSecretRun = 4

// maskedKey matches the masked key forms providers echo: OpenAI
// "sk-4sJHr***...***w8ZP", DeepSeek "****fcc2", xAI "gs***tF", OpenRouter's
// label "sk-or-v1-0fa...240", xAI's redacted_api_key "xai-...b14o".
var maskedKey = regexp.MustCompile(`[A-Za-z0-9_\-]*(?:\*{2,}|\.{3}|…)[A-Za-z0-9_\-*.…]*[A-Za-z0-9_\-*]|[A-Za-z0-9_\-]+\*{2,}`)

// Redact returns s without any of the secrets: every run of 4 or more
// characters that also occurs in a secret (ASCII case ignored) is replaced, as
// are masked key forms such as "sk-4sJHr***...w8ZP", "****fcc2" and "gs***tF".
// A secret shorter than 4 characters is removed where it occurs whole. Empty
// secrets are ignored. The result never contains such a run, whatever the
// input.
func Redact(s string, secrets ...string) string {
	if s == "" {
		return s
	}
	s = maskedKey.ReplaceAllString(s, redactedMark)
	var all []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		all = append(all, sec)
		if e := url.QueryEscape(sec); e != sec {
			all = append(all, e)
		}
		if e := url.PathEscape(sec); e != sec {
			all = append(all, e)
		}
	}
	if len(all) == 0 {
		return s
	}
	grams := newGramSet(all)
	out := grams.replace(s, redactedMark)
	if !grams.covers(out) {
		return out
	}
	// The mark next to surviving text formed a run of a secret (only possible
	// for odd secrets): delete instead, until nothing is left to delete. Each
	// pass removes at least one character, so this ends.
	out = s
	for grams.covers(out) {
		out = grams.replace(out, "")
	}
	return out
}

// gramSet holds the n-grams of secrets (n = 4, or the whole secret if shorter),
// lower-cased in ASCII.
type gramSet struct {
	byLen [minSecretRun + 1]map[string]struct{} // index: gram length
}

func newGramSet(secrets []string) gramSet {
	var g gramSet
	for _, sec := range secrets {
		low := asciiLower(sec)
		n := min(minSecretRun, len(low))
		if g.byLen[n] == nil {
			g.byLen[n] = map[string]struct{}{}
		}
		for i := 0; i+n <= len(low); i++ {
			g.byLen[n][low[i:i+n]] = struct{}{}
		}
	}
	return g
}

// mask marks the bytes of s that lie in some n-gram of a secret.
func (g gramSet) mask(s string) ([]bool, bool) {
	low := asciiLower(s)
	var m []bool
	for n, set := range g.byLen {
		if set == nil {
			continue
		}
		for i := 0; i+n <= len(low); i++ {
			if _, ok := set[low[i:i+n]]; ok {
				if m == nil {
					m = make([]bool, len(s))
				}
				for j := i; j < i+n; j++ {
					m[j] = true
				}
			}
		}
	}
	return m, m != nil
}

func (g gramSet) covers(s string) bool {
	_, hit := g.mask(s)
	return hit
}

// replace swaps each maximal run of marked bytes for mark. A marked run that
// cuts a UTF-8 sequence is widened to whole characters so the output stays
// valid UTF-8 where the input was.
func (g gramSet) replace(s, mark string) string {
	m, hit := g.mask(s)
	if !hit {
		return s
	}
	for i := range m {
		if m[i] {
			continue
		}
		// widen over continuation bytes adjoining a marked byte
		if isCont(s[i]) && i > 0 && m[i-1] {
			m[i] = true
		}
	}
	for i := len(m) - 1; i >= 0; i-- {
		if m[i] && isCont(s[i]) && i > 0 && !m[i-1] {
			for j := i - 1; j >= 0; j-- {
				m[j] = true
				if !isCont(s[j]) {
					break
				}
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !m[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		for i < len(s) && m[i] {
			i++
		}
		b.WriteString(mark)
	}
	return b.String()
}

func isCont(c byte) bool { return c&0xC0 == 0x80 }

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
