package usage

import (
	"slices"
	"strings"
)

// authKind is how a provider takes the API key (always in a header).
type authKind int

const (
	authBearer    authKind = iota // Authorization: Bearer <key>
	authAnthropic                 // x-api-key + anthropic-version: 2023-06-01
	authGoogle                    // x-goog-api-key (never ?key=)
	authAzure                     // api-key
)

// modelsShape is where a model list keeps its ids.
type modelsShape int

const (
	shapeData      modelsShape = iota // {"data":[{"id"}]}
	shapeArray                        // [{"id"}] (Together)
	shapeModelName                    // {"models":[{"name"}]} (Gemini, Cohere)
)

// inferKind is the cheapest request that returns rate-limit headers.
type inferKind int

const (
	inferNone     inferKind = iota
	inferChat               // OpenAI dialect: POST chat/completions, max_tokens 1
	inferMessages           // Anthropic: POST /v1/messages, max_tokens 1
)

// extraKind is a zero-cost quota or key-status endpoint.
type extraKind int

const (
	extraDeepSeekBalance extraKind = iota // GET /user/balance
	extraOpenRouterKey                    // GET /api/v1/key
	extraXAIKey                           // GET /v1/api-key
	extraCohereCheck                      // POST /v1/check-api-key
)

type extraCall struct {
	kind   extraKind
	method string
	url    string
}

// plan is what one probe of a provider requests, given its base URL.
type plan struct {
	modelsURL string
	extras    []extraCall
	inferURL  string
	// model is a fixed model (Azure's deployment); sendModel says whether
	// the request body names it.
	model     string
	sendModel bool
	note      string
}

// provider is one provider's probe, mostly data.
type provider struct {
	name        string
	defaultBase string
	auth        authKind
	keyOptional bool // openai_compatible: local servers often take no key
	family      *family
	shape       modelsShape
	stripPrefix string // removed from model ids ("models/" for Gemini)
	infer       inferKind
	preferred   []string // probe models, best first
	hints       []string // else the first listed model containing one of these
	firstListed bool     // else the first listed model (openai_compatible)
	// windowsByDesign is false when the provider documents no rate-limit
	// headers on the probe's requests.
	windowsByDesign   bool
	note              string
	modelListOptional bool // a failing model list is expected (Fireworks 500)
	plan              func(base string) plan
}

// openAIDialect builds a provider speaking OpenAI's API at base (ending in /v1
// or the provider's equivalent): GET {base}/models, POST {base}/chat/completions.
func openAIDialect(name, base string, fam *family, preferred, hints []string) *provider {
	return &provider{
		name: name, defaultBase: base, auth: authBearer, family: fam, shape: shapeData,
		infer: inferChat, preferred: preferred, hints: hints, windowsByDesign: true,
		plan: func(b string) plan {
			return plan{modelsURL: b + "/models", inferURL: b + "/chat/completions", sendModel: true}
		},
	}
}

// providerTable is built on each call: no package-level mutable state.
func providerTable() []*provider {
	openai := openAIDialect("openai", "https://api.openai.com/v1", familyOpenAI,
		[]string{"gpt-4.1-nano", "gpt-4o-mini"}, nil)
	groq := openAIDialect("groq", "https://api.groq.com/openai/v1", familyGroq,
		[]string{"llama-3.1-8b-instant"}, []string{"8b"})
	mistral := openAIDialect("mistral", "https://api.mistral.ai/v1", familyMistral,
		[]string{"mistral-small-latest"}, []string{"small"})
	together := openAIDialect("together", "https://api.together.xyz/v1", familyTogether,
		[]string{"meta-llama/Llama-3.2-3B-Instruct-Turbo"}, nil)
	together.shape = shapeArray
	fireworks := openAIDialect("fireworks", "https://api.fireworks.ai/inference/v1", familyFireworks,
		[]string{"accounts/fireworks/models/llama-v3p1-8b-instruct"}, nil)
	fireworks.modelListOptional = true
	xai := openAIDialect("xai", "https://api.x.ai/v1", familyOpenAI, []string{"grok-3-mini"}, []string{"mini"})
	xai.plan = func(b string) plan {
		return plan{modelsURL: b + "/models", inferURL: b + "/chat/completions", sendModel: true,
			extras: []extraCall{{extraXAIKey, "GET", b + "/api-key"}}}
	}
	compat := openAIDialect("openai_compatible", "", familyOpenAI, nil, nil)
	compat.firstListed, compat.keyOptional = true, true

	deepseek := openAIDialect("deepseek", "https://api.deepseek.com", familyNone, nil, nil)
	deepseek.infer, deepseek.windowsByDesign = inferNone, false
	deepseek.note = "DeepSeek does not rate-limit API keys; see balance"
	deepseek.plan = func(b string) plan {
		root := strings.TrimSuffix(b, "/v1")
		return plan{modelsURL: b + "/models",
			extras: []extraCall{{extraDeepSeekBalance, "GET", root + "/user/balance"}}}
	}

	openrouter := openAIDialect("openrouter", "https://openrouter.ai/api/v1", familyOpenRouter, nil, nil)
	openrouter.infer, openrouter.windowsByDesign = inferNone, false
	openrouter.note = "OpenRouter sends no rate-limit headers on successful requests; see credits"
	openrouter.plan = func(b string) plan {
		return plan{modelsURL: b + "/models", extras: []extraCall{{extraOpenRouterKey, "GET", b + "/key"}}}
	}

	anthropic := &provider{
		name: "anthropic", defaultBase: "https://api.anthropic.com", auth: authAnthropic,
		family: familyAnthropic, shape: shapeData, infer: inferMessages,
		preferred: []string{"claude-haiku-4-5", "claude-3-5-haiku-latest"}, hints: []string{"haiku"},
		windowsByDesign: true,
		plan: func(b string) plan {
			b = strings.TrimSuffix(b, "/v1")
			return plan{modelsURL: b + "/v1/models?limit=1000", inferURL: b + "/v1/messages", sendModel: true}
		},
	}
	gemini := &provider{
		name: "gemini", defaultBase: "https://generativelanguage.googleapis.com/v1beta", auth: authGoogle,
		family: familyNone, shape: shapeModelName, stripPrefix: "models/", infer: inferNone,
		note: "Gemini exposes no rate-limit windows in headers; quota appears only in HTTP 429 bodies",
		plan: func(b string) plan {
			if !strings.HasSuffix(b, "/v1beta") && !strings.HasSuffix(b, "/v1") {
				b += "/v1beta"
			}
			return plan{modelsURL: b + "/models?pageSize=1000"}
		},
	}
	cohere := &provider{
		name: "cohere", defaultBase: "https://api.cohere.com", auth: authBearer,
		family: familyCohere, shape: shapeModelName, infer: inferNone, windowsByDesign: true,
		note: "Cohere sends call limits on trial keys only; no chat request is sent (each counts against the monthly call allowance)",
		plan: func(b string) plan {
			b = strings.TrimSuffix(strings.TrimSuffix(b, "/v1"), "/v2")
			return plan{modelsURL: b + "/v1/models?page_size=1000",
				extras: []extraCall{{extraCohereCheck, "POST", b + "/v1/check-api-key"}}}
		},
	}
	azure := &provider{
		name: "azure_openai", auth: authAzure, family: familyAzure, shape: shapeData,
		infer: inferChat, windowsByDesign: true, plan: azurePlan,
	}
	return []*provider{anthropic, azure, cohere, deepseek, fireworks, gemini, groq, mistral,
		openai, compat, openrouter, together, xai}
}

// azureAPIVersion is the GA data-plane version used for models and chat.
const azureAPIVersion = "2024-10-21"

// azurePlan reads the base URL the way the openai SDK's AzureOpenAI does:
//   - https://R.openai.azure.com/openai/deployments/D: models list on the
//     resource, chat completion on deployment D (rate-limit headers);
//   - https://R.openai.azure.com/openai/v1: the v1 API's model list only;
//   - https://R.openai.azure.com: the resource's model list only.
func azurePlan(b string) plan {
	const dep = "/openai/deployments/"
	if i := strings.Index(b, dep); i >= 0 {
		root, name := b[:i], b[i+len(dep):]
		if j := strings.IndexByte(name, '/'); j >= 0 {
			name = name[:j]
		}
		if name != "" {
			depBase := root + dep + name
			return plan{
				modelsURL: root + "/openai/models?api-version=" + azureAPIVersion,
				inferURL:  depBase + "/chat/completions?api-version=" + azureAPIVersion,
				model:     name,
			}
		}
		b = root
	}
	note := "name a deployment in base_url (.../openai/deployments/<name>) to read rate-limit windows"
	if strings.HasSuffix(b, "/openai/v1") {
		return plan{modelsURL: b + "/models", note: note}
	}
	return plan{modelsURL: b + "/openai/models?api-version=" + azureAPIVersion, note: note}
}

// lookupProvider finds a provider by name.
func lookupProvider(name string) (*provider, bool) {
	for _, p := range providerTable() {
		if p.name == name {
			return p, true
		}
	}
	return nil, false
}

// ProviderNames returns every provider Probe supports, sorted.
func ProviderNames() []string {
	var out []string
	for _, p := range providerTable() {
		out = append(out, p.name)
	}
	slices.Sort(out)
	return out
}

// pickModel chooses the probe model: a preferred id the key lists, else the
// first listed id containing a hint, else (firstListed) the first listed id,
// else the first preferred id. "" means nothing to probe with.
func (p *provider) pickModel(listed []string) string {
	for _, m := range p.preferred {
		if slices.Contains(listed, m) {
			return m
		}
	}
	for _, m := range listed {
		for _, h := range p.hints {
			if strings.Contains(m, h) {
				return m
			}
		}
	}
	if p.firstListed && len(listed) > 0 {
		return listed[0]
	}
	if len(p.preferred) > 0 {
		return p.preferred[0]
	}
	return ""
}
