package credentials

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on field sizes. They keep every item well inside DynamoDB's key and
// item limits, so an oversized field is a 422, never an AWS error.
const (
	MaxAccountKey  = 200
	MaxDisplayName = 200
	MaxAPIKey      = 4096
	MaxBaseURL     = 2048
)

// CreateInput is the body of POST /provider-credentials.
type CreateInput struct {
	Provider    string
	AccountKey  string
	DisplayName *string
	APIKey      *string
	BaseURL     *string
	Active      *bool // default true
}

// UpdateInput is the body of PATCH /provider-credentials/{id}. A nil field
// leaves the value as it is; an empty APIKey or BaseURL clears it.
type UpdateInput struct {
	DisplayName *string
	APIKey      *string
	BaseURL     *string
	Active      *bool
}

// TestInput is the body of POST /provider-credentials/test.
type TestInput struct {
	Provider   string
	AccountKey string
	APIKey     *string
	BaseURL    *string
}

// BaseURLCheck validates a non-empty base URL for a provider. It returns an
// error whose text is safe to show the user.
type BaseURLCheck func(provider, raw string) error

// Normalize validates a test request and applies its defaults: a blank
// account key becomes "test", empty strings become none.
func (in TestInput) Normalize(check BaseURLCheck) (TestInput, error) {
	if err := checkProvider(in.Provider); err != nil {
		return in, err
	}
	in.AccountKey = strings.TrimSpace(in.AccountKey)
	if in.AccountKey == "" {
		in.AccountKey = "test"
	}
	key, keyErr := normalizeKey(in.APIKey)
	in.APIKey, in.BaseURL = emptyToNil(key), emptyToNil(in.BaseURL)
	errs := join(
		checkLen("account_key", in.AccountKey, MaxAccountKey),
		keyErr,
		checkBaseURL(check, in.Provider, in.BaseURL, true),
	)
	return in, errs
}

func checkProvider(p string) error {
	if !IsSupported(p) {
		return &Error{Kind: Invalid, Detail: unsupportedMessage(p)}
	}
	return nil
}

func emptyToNil(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func checkLen(field, v string, max int) *FieldError {
	if n := utf8.RuneCountInString(v); n > max {
		return &FieldError{Loc: []any{"body", field}, Type: "string_too_long",
			Msg: fmt.Sprintf("String should have at most %d characters", max)}
	}
	return nil
}

// normalizeKey trims the white space a paste leaves around a key (no
// provider key has any) and refuses a key that is only white space or holds
// control characters, which no HTTP header could carry.
func normalizeKey(key *string) (*string, *FieldError) {
	if key == nil || *key == "" {
		return key, nil
	}
	trimmed := strings.TrimSpace(*key)
	if trimmed == "" {
		return nil, &FieldError{Loc: []any{"body", "api_key"}, Type: "value_error",
			Msg: "Value error, api_key must not be blank"}
	}
	if strings.ContainsFunc(trimmed, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, &FieldError{Loc: []any{"body", "api_key"}, Type: "value_error",
			Msg: "Value error, api_key must not contain control characters"}
	}
	if fe := checkLen("api_key", trimmed, MaxAPIKey); fe != nil {
		return nil, fe
	}
	return &trimmed, nil
}

// checkBaseURL validates base (nil means none). required says whether a
// missing base URL is an error for providers that need one.
func checkBaseURL(check BaseURLCheck, provider string, base *string, required bool) *FieldError {
	if base == nil {
		if required && NeedsBaseURL(provider) {
			return &FieldError{Loc: []any{"body", "base_url"}, Type: "missing",
				Msg: fmt.Sprintf("base_url is required for provider '%s'", provider)}
		}
		return nil
	}
	if fe := checkLen("base_url", *base, MaxBaseURL); fe != nil {
		return fe
	}
	if check != nil {
		if err := check(provider, *base); err != nil {
			return &FieldError{Loc: []any{"body", "base_url"}, Type: "url_parsing", Msg: err.Error()}
		}
	}
	return nil
}

// join turns field errors into one 422 Error, or nil when there are none.
func join(fes ...*FieldError) error {
	var list []FieldError
	for _, fe := range fes {
		if fe != nil {
			list = append(list, *fe)
		}
	}
	if len(list) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Detail: list}
}
