package usage

import (
	"reflect"
	"strings"
	"testing"
)

func TestProviderPlans(t *testing.T) {
	want := map[string][]string{ // models URL, extras..., inference URL
		"openai":     {"https://api.openai.com/v1/models", "https://api.openai.com/v1/chat/completions"},
		"anthropic":  {"https://api.anthropic.com/v1/models?limit=1000", "https://api.anthropic.com/v1/messages"},
		"gemini":     {"https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000", ""},
		"mistral":    {"https://api.mistral.ai/v1/models", "https://api.mistral.ai/v1/chat/completions"},
		"groq":       {"https://api.groq.com/openai/v1/models", "https://api.groq.com/openai/v1/chat/completions"},
		"deepseek":   {"https://api.deepseek.com/models", "GET https://api.deepseek.com/user/balance", ""},
		"xai":        {"https://api.x.ai/v1/models", "GET https://api.x.ai/v1/api-key", "https://api.x.ai/v1/chat/completions"},
		"openrouter": {"https://openrouter.ai/api/v1/models", "GET https://openrouter.ai/api/v1/key", ""},
		"together":   {"https://api.together.xyz/v1/models", "https://api.together.xyz/v1/chat/completions"},
		"fireworks":  {"https://api.fireworks.ai/inference/v1/models", "https://api.fireworks.ai/inference/v1/chat/completions"},
		"cohere":     {"https://api.cohere.com/v1/models?page_size=1000", "POST https://api.cohere.com/v1/check-api-key", ""},
	}
	for _, p := range providerTable() {
		if p.defaultBase == "" {
			continue
		}
		if err := ValidateBaseURL(p.name, p.defaultBase, false); err != nil {
			t.Errorf("%s default base: %v", p.name, err)
		}
		pl := p.plan(p.defaultBase)
		got := []string{pl.modelsURL}
		for _, x := range pl.extras {
			got = append(got, x.method+" "+x.url)
		}
		got = append(got, pl.inferURL)
		if p.infer == inferNone {
			got[len(got)-1] = ""
		}
		if !reflect.DeepEqual(got, want[p.name]) {
			t.Errorf("%s plan = %q, want %q", p.name, got, want[p.name])
		}
	}
}

func TestBaseURLConventions(t *testing.T) {
	anthropic, _ := lookupProvider("anthropic")
	if got := anthropic.plan("https://api.anthropic.com/v1").modelsURL; got != "https://api.anthropic.com/v1/models?limit=1000" {
		t.Errorf("anthropic with /v1: %s", got)
	}
	gemini, _ := lookupProvider("gemini")
	if got := gemini.plan("https://generativelanguage.googleapis.com").modelsURL; got != "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1000" {
		t.Errorf("gemini bare: %s", got)
	}
	deepseek, _ := lookupProvider("deepseek")
	if pl := deepseek.plan("https://api.deepseek.com/v1"); pl.modelsURL != "https://api.deepseek.com/v1/models" || pl.extras[0].url != "https://api.deepseek.com/user/balance" {
		t.Errorf("deepseek /v1: %+v", pl)
	}
	cases := []struct{ base, models, infer, model string }{
		{"https://r.openai.azure.com/openai/deployments/gpt4o", "https://r.openai.azure.com/openai/models?api-version=2024-10-21",
			"https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21", "gpt4o"},
		{"https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions", "https://r.openai.azure.com/openai/models?api-version=2024-10-21",
			"https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21", "gpt4o"},
		{"https://r.openai.azure.com", "https://r.openai.azure.com/openai/models?api-version=2024-10-21", "", ""},
		{"https://r.openai.azure.com/openai/v1", "https://r.openai.azure.com/openai/v1/models", "", ""},
	}
	for _, c := range cases {
		pl := azurePlan(c.base)
		if pl.modelsURL != c.models || pl.inferURL != c.infer || pl.model != c.model || pl.sendModel {
			t.Errorf("azurePlan(%s) = %+v", c.base, pl)
		}
		if c.infer == "" && !strings.Contains(pl.note, "deployment") {
			t.Errorf("azurePlan(%s): no note", c.base)
		}
	}
}

func TestPickModel(t *testing.T) {
	anthropic, _ := lookupProvider("anthropic")
	if got := anthropic.pickModel([]string{"claude-opus-4-1", "claude-haiku-4-5-20251001", "claude-3-haiku-20240307"}); got != "claude-haiku-4-5-20251001" {
		t.Errorf("anthropic picked %s", got)
	}
	if got := anthropic.pickModel(nil); got != "claude-haiku-4-5" {
		t.Errorf("anthropic default %s", got)
	}
	compat, _ := lookupProvider("openai_compatible")
	if got := compat.pickModel([]string{"qwen2.5:0.5b", "llama3"}); got != "qwen2.5:0.5b" {
		t.Errorf("compat picked %s", got)
	}
	if got := compat.pickModel(nil); got != "" {
		t.Errorf("compat with no models picked %q", got)
	}
}
