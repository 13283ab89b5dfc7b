package credentials

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	const canon = "8f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{canon, canon, true},
		{strings.ToUpper(canon), canon, true},
		{"8f1c2d3e4b5a4c6d8e7f0123456789ab", canon, true},
		{"{" + canon + "}", canon, true},
		{"urn:uuid:" + canon, canon, true},
		{"", "", false},
		{"not-a-uuid", "", false},
		{canon + "0", "", false},
		{"8f1c2d3e-4b5a-4c6d-8e7f-0123456789ag", "", false},
		{"../../etc/passwd", "", false},
	} {
		got, ok := ParseID(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseID(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if id := NewID(); len(id) != 36 || id[14] != '4' {
		t.Errorf("NewID() = %q, want a version 4 UUID", id)
	}
}

func TestLastFour(t *testing.T) {
	for in, want := range map[string]string{"": "<nil>", "abc": "<nil>", "abcd": "abcd", "sk-123456wxyz": "wxyz", "kéyé€ü": "yé€ü"} {
		got := "<nil>"
		if p := lastFour(in); p != nil {
			got = *p
		}
		if got != want {
			t.Errorf("lastFour(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnsupportedMessageIsTheSeeds(t *testing.T) {
	want := "Unsupported provider 'x'. Supported: ['anthropic', 'azure_openai', 'cohere', 'deepseek', 'fireworks', 'gemini', 'groq', 'mistral', 'openai', 'openai_compatible', 'openrouter', 'together', 'xai']"
	if got := unsupportedMessage("x"); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestCredentialJSONHidesKeyStoreFields(t *testing.T) {
	c := Credential{ID: "id", OrgID: "o", SecretName: "prefix/o/id", KeyVersion: "v1", Revision: 3}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"prefix/o/id", "v1", "revision", "secret"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("JSON %s contains %q", b, leak)
		}
	}
}

func TestProbeFingerprint(t *testing.T) {
	base := "https://a.example/v1"
	c := Credential{Provider: "openai", KeyVersion: "v1"}
	same := c
	same.DisplayName, same.Active = "renamed", true
	if c.ProbeFingerprint() != same.ProbeFingerprint() {
		t.Error("display name or active changed the fingerprint")
	}
	for name, change := range map[string]func(*Credential){
		"key version": func(c *Credential) { c.KeyVersion = "v2" },
		"key cleared": func(c *Credential) { c.KeyVersion = "" },
		"base url":    func(c *Credential) { c.BaseURL = &base },
		"provider":    func(c *Credential) { c.Provider = "groq" },
	} {
		d := c
		change(&d)
		if d.ProbeFingerprint() == c.ProbeFingerprint() {
			t.Errorf("%s did not change the fingerprint", name)
		}
	}
}

func TestTestInputNormalize(t *testing.T) {
	empty := ""
	in, err := TestInput{Provider: "openai", AccountKey: "  ", APIKey: &empty}.Normalize(nil)
	if err != nil || in.AccountKey != "test" || in.APIKey != nil {
		t.Fatalf("Normalize = %+v, %v; want account key test and no key", in, err)
	}
	if _, err := (TestInput{Provider: "nope"}).Normalize(nil); KindOf(err) != Invalid {
		t.Fatalf("unsupported provider: kind = %v, want Invalid", KindOf(err))
	}
	if _, err := (TestInput{Provider: "azure_openai"}).Normalize(nil); KindOf(err) != Invalid {
		t.Fatalf("azure without base_url: kind = %v, want Invalid", KindOf(err))
	}
}

func TestNormalizeKey(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		in      *string
		want    string // "<nil>" for none
		wantErr bool
	}{
		{nil, "<nil>", false},
		{s(""), "", false}, // "" clears, on PATCH
		{s("sk-abc123\n"), "sk-abc123", false},
		{s("  sk-abc123 "), "sk-abc123", false},
		{s("   "), "", true},
		{s("sk-\x00abc"), "", true},
		{s("sk-a\nbc"), "", true},
		{s(strings.Repeat("k", MaxAPIKey+1)), "", true},
	} {
		got, fe := normalizeKey(tc.in)
		if (fe != nil) != tc.wantErr {
			t.Errorf("normalizeKey(%q): error = %v, want error %v", deref(tc.in), fe, tc.wantErr)
			continue
		}
		if !tc.wantErr && deref(got) != tc.want {
			t.Errorf("normalizeKey(%q) = %q, want %q", deref(tc.in), deref(got), tc.want)
		}
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
