package usage

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func FuzzParseReset(f *testing.F) {
	for _, s := range []string{"1s", "6m0s", "12ms", "2m59.56s", "7.66s", "1d2h", "40", "-1", "2025-08-21T12:40:59Z", "1791331200000", "1e309", "0x10", "."} {
		f.Add(uint8(resetAuto), s)
	}
	f.Fuzz(func(t *testing.T, format uint8, v string) {
		fm := resetFormat(format % uint8(resetAuto+1))
		got, ok := parseReset(fm, v, t0)
		if !ok {
			return
		}
		if got.Before(minEpoch) || got.After(t0.Add(maxReset)) {
			t.Fatalf("parseReset(%d, %q) = %v: out of bounds", fm, v, got)
		}
		if got.Location() != time.UTC || got.Nanosecond()%1000 != 0 {
			t.Fatalf("parseReset(%d, %q) = %v: not UTC microseconds", fm, v, got)
		}
		if (fm == resetDuration || fm == resetSeconds) && got.Before(t0.Truncate(time.Microsecond)) {
			t.Fatalf("relative reset %q went backwards", v)
		}
		// The window built from it must marshal.
		w := rawWindow{limit: i64(1), reset: &got}.tokenWindow(t0, "")
		if _, err := (Result{Tokens: w}).MarshalJSON(); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	})
}

func FuzzParseHeaders(f *testing.F) {
	f.Add("x-ratelimit-limit-tokens", "150000", "x-ratelimit-remaining-tokens", "149984", "x-ratelimit-reset-tokens", "6m0s")
	f.Add("anthropic-ratelimit-tokens-limit", "80000", "anthropic-ratelimit-tokens-remaining", "79000", "anthropic-ratelimit-tokens-reset", "2026-05-20T22:04:38Z")
	f.Add("ratelimitbysize-limit", "500000", "ratelimitbysize-remaining", "600000", "ratelimitbysize-reset", "40")
	f.Add("x-ratelimit-limit-tokens", "-1", "x-ratelimit-remaining-tokens", "-1", "x-ratelimit-reset-tokens", "0")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, n3, v3 string) {
		h := http.Header{}
		for _, kv := range [][2]string{{n1, v1}, {n2, v2}, {n3, v3}} {
			h[kv[0]] = []string{kv[1]}
		}
		for _, fam := range families() {
			w := fam.parseHeaders(h, t0)
			for i := range w {
				tw := w[i].tokenWindow(t0, fam.periods[i])
				for _, p := range []*int64{tw.Limit, tw.Remaining, tw.Used, tw.ResetInMS} {
					if p != nil && *p < 0 {
						t.Fatalf("%s: negative value %d", fam.name, *p)
					}
				}
				if tw.PctUsed != nil && (math.IsNaN(*tw.PctUsed) || math.IsInf(*tw.PctUsed, 0) || *tw.PctUsed < 0) {
					t.Fatalf("%s: pct_used %v", fam.name, *tw.PctUsed)
				}
				if tw.Limit != nil && tw.Remaining != nil && tw.Used == nil {
					t.Fatalf("%s: used missing", fam.name)
				}
				if _, err := (Result{Tokens: tw, Requests: w[i].requestWindow(t0, "")}).MarshalJSON(); err != nil {
					t.Fatalf("%s: marshal: %v", fam.name, err)
				}
			}
		}
		for _, name := range rateLimitHeaderNames(h) {
			if name != strings.ToLower(name) || !validHeaderName(name) {
				t.Fatalf("bad debug name %q", name)
			}
		}
	})
}

func FuzzRedact(f *testing.F) {
	f.Add("Incorrect API key provided: sk-4sJHr***************************************w8ZP. You can find your API key", "sk-4sJHrFAKEq1Zx8Vb3Nm6Lw8ZP")
	f.Add("Authentication Fails, Your api key: ****fcc2 is invalid", "sk-FAKEv9Qz2Xc7Bn4Mkfcc2")
	f.Add(`"Incorrect API key provided: gs***tF."`, "gsk_FAKEz8Qv3Xw7Bm2NtF")
	f.Add("xx [REDACTED] yy", "D]xy")
	f.Add("aaaa", "aaa")
	f.Fuzz(func(t *testing.T, s, key string) {
		if key == "" || len(s) > 4096 || len(key) > 256 {
			return
		}
		got := Redact(s, key)
		n := min(minSecretRun, len(key))
		if containsRun(asciiLower(got), asciiLower(key), n) {
			t.Fatalf("a %d-byte run of the key survived", n)
		}
		if len(got) > 10*len(s)+len(redactedMark) {
			t.Fatalf("output grew from %d to %d", len(s), len(got))
		}
	})
}
