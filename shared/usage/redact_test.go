package usage

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := []struct {
		name, in, key, want string
	}{
		{"openai echo", "Incorrect API key provided: sk-4sJHr***************************************w8ZP. You can find your API key at https://platform.openai.com/account/api-keys.",
			badOpenAIKey, "Incorrect API key provided: [REDACTED]. You can find your API key at https://platform.openai.com/account/api-keys."},
		{"openai echo, other key", "Incorrect API key provided: sk-PMafP***...E873.", "zz-unrelated-key-0000", "Incorrect API key provided: [REDACTED]."},
		{"deepseek echo", "Authentication Fails, Your api key: ****fcc2 is invalid", badDeepSeekKey, "Authentication Fails, Your api key: [REDACTED] is invalid"},
		{"xai echo", "Incorrect API key provided: gs***tF. You can obtain an API key from https://console.x.ai.", badXAIKey,
			"Incorrect API key provided: [REDACTED]. You can obtain an API key from https://console.x.ai."},
		{"openrouter label", `label sk-or-v1-0fa...240 here`, "", `label [REDACTED] here`},
		{"xai redacted", `"redacted_api_key":"xai-...b14o"`, "", `"redacted_api_key":"[REDACTED]"`},
		{"whole key", "Get \"https://h/v1?key=" + goodKey + "\": dial tcp", goodKey, "Get \"https://h/v1?key=[REDACTED]\": dial tcp"},
		{"first 8 + last 4 without mask", "key sk-4sJHr…w8ZP bad", badOpenAIKey, "key [REDACTED] bad"},
		{"four chars", "ends in w8ZP.", badOpenAIKey, "ends in [REDACTED]."},
		{"three chars kept", "w8Z is fine", badOpenAIKey, "w8Z is fine"},
		{"case folded", "SK-4SJHRFAKE", badOpenAIKey, "[REDACTED]"},
		{"query escaped", "k=a%2Bb%2Fc%3Dd", "a+b/c=d", "k=[REDACTED]"},
		{"short key whole", "Incorrect API key provided: abc.", "abc", "Incorrect API key provided: [REDACTED]."},
		{"no secrets", "plain message", "", "plain message"},
		{"ellipsis prose kept", "wait... what", "", "wait... what"},
		{"utf8 kept valid", "é" + goodKey[:6] + "ü", goodKey, "é[REDACTED]ü"},
	}
	for _, c := range cases {
		got := Redact(c.in, c.key)
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		if c.key != "" && len(c.key) >= 4 && containsRun(got, c.key, 4) {
			t.Errorf("%s: a run of the key survived", c.name)
		}
	}
}

func TestRedactMarkCollision(t *testing.T) {
	// A key made of the mark's own letters: the result must still hold no run.
	for _, key := range []string{"[REDACTED]", "ACTED]xyz", "D]ab", "REDA"} {
		got := Redact("xx ab"+key+"ab yy D]ab", key)
		if containsRun(got, key, min(4, len(key))) {
			t.Errorf("key %d chars: a run survived", len(key))
		}
	}
}

func TestRedactMultipleSecrets(t *testing.T) {
	got := Redact("a="+goodKey+" b="+badOtherKey, goodKey, badOtherKey)
	if got != "a=[REDACTED] b=[REDACTED]" {
		t.Fatalf("got %q", got)
	}
}

// containsRun reports whether s holds any n-character run of key, ASCII case folded.
func containsRun(s, key string, n int) bool {
	ls, lk := asciiLower(s), asciiLower(key)
	for i := 0; i+n <= len(lk); i++ {
		if strings.Contains(ls, lk[i:i+n]) {
			return true
		}
	}
	return false
}

func BenchmarkRedact(b *testing.B) {
	msg := "Incorrect API key provided: sk-4sJHr***************************************w8ZP. You can find your API key at https://platform.openai.com/account/api-keys."
	for b.Loop() {
		Redact(msg, badOpenAIKey)
	}
}
