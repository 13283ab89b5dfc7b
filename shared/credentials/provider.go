package credentials

import (
	"slices"
	"strings"
)

// Providers lists the provider names the API accepts, sorted. The 422 message
// for an unsupported provider lists them in this order.
var providers = []string{
	"anthropic", "azure_openai", "cohere", "deepseek", "fireworks", "gemini",
	"groq", "mistral", "openai", "openai_compatible", "openrouter", "together", "xai",
}

// Providers returns the supported provider names, sorted.
func Providers() []string { return slices.Clone(providers) }

// IsSupported reports whether name is a supported provider.
func IsSupported(name string) bool {
	_, ok := slices.BinarySearch(providers, name)
	return ok
}

// NeedsBaseURL reports whether a credential of this provider must name a base URL.
func NeedsBaseURL(provider string) bool {
	return provider == "openai_compatible" || provider == "azure_openai"
}

// unsupportedMessage is the seed's wording, Python list repr included.
func unsupportedMessage(provider string) string {
	quoted := make([]string, len(providers))
	for i, p := range providers {
		quoted[i] = "'" + p + "'"
	}
	return "Unsupported provider '" + provider + "'. Supported: [" + strings.Join(quoted, ", ") + "]"
}
