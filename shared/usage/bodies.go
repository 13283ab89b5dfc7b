package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// trimJSON drops what some providers put before the JSON (DeepSeek's blank
// keep-alive lines) and a UTF-8 byte-order mark.
func trimJSON(b []byte) []byte {
	b = bytes.TrimPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("\xef\xbb\xbf"))
	return bytes.TrimLeft(b, " \t\r\n")
}

// parseModels extracts the model ids of a model list.
func parseModels(body []byte, shape modelsShape, strip string) ([]string, error) {
	body = trimJSON(body)
	type item struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	var items []item
	switch shape {
	case shapeData:
		var v struct {
			Data *[]item `json:"data"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		if v.Data == nil {
			return nil, errors.New("no data")
		}
		items = *v.Data
	case shapeArray:
		if err := json.Unmarshal(body, &items); err != nil {
			// tolerate an OpenAI-style wrapper too
			var v struct {
				Data []item `json:"data"`
			}
			if err2 := json.Unmarshal(body, &v); err2 != nil || v.Data == nil {
				return nil, err
			}
			items = v.Data
		}
	case shapeModelName:
		var v struct {
			Models *[]item `json:"models"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		if v.Models == nil {
			return nil, errors.New("no models")
		}
		items = *v.Models
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		id := it.ID
		if shape == shapeModelName || id == "" {
			id = it.Name
		}
		id = strings.TrimPrefix(id, strip)
		if id != "" && len(id) <= 256 && utf8.ValidString(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func sortedModels(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxModels {
		out = out[:maxModels]
	}
	return out
}

// providerError is the common shape of error bodies.
type providerError struct {
	code, typ, status, message string
	reasons                    []string
}

// parseProviderError reads an error body: {"error":{"message",...}},
// {"error":"..."}, {"message":...}, {"detail":...}, or a bare JSON string (xAI).
func parseProviderError(body []byte) providerError {
	body = trimJSON(body)
	var pe providerError
	var str string
	if json.Unmarshal(body, &str) == nil {
		pe.message = str
		return pe
	}
	var v map[string]json.RawMessage
	if json.Unmarshal(body, &v) != nil {
		return pe
	}
	asString := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
		return ""
	}
	if raw, ok := v["error"]; ok {
		var e map[string]json.RawMessage
		if json.Unmarshal(raw, &e) == nil {
			pe.message = asString(e["message"])
			pe.code = asString(e["code"])
			pe.typ = asString(e["type"])
			pe.status = asString(e["status"])
			var details []struct {
				Reason string `json:"reason"`
			}
			if json.Unmarshal(e["details"], &details) == nil {
				for _, d := range details {
					pe.reasons = append(pe.reasons, d.Reason)
				}
			}
		} else {
			pe.message = asString(raw)
		}
	}
	if pe.message == "" {
		pe.message = asString(v["message"])
	}
	if pe.message == "" {
		pe.message = asString(v["detail"])
	}
	if pe.typ == "" {
		pe.typ = asString(v["type"])
	}
	return pe
}

// isAuthFailure reports a rejected key: 401, 403, or a 400 that says so
// (Gemini API_KEY_INVALID, xAI "Incorrect API key provided").
func isAuthFailure(r *response) bool {
	if r.status != http.StatusUnauthorized && r.status != http.StatusForbidden && r.status != http.StatusBadRequest {
		return false
	}
	pe := parseProviderError(r.body)
	m := strings.ToLower(pe.message)
	switch r.status {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		// A restricted key lacking one scope (OpenAI "Missing scopes:
		// api.model.read") is a valid key: not a rejection.
		return !strings.Contains(m, "missing scope") && !strings.Contains(m, "insufficient permissions")
	}
	if slices.Contains(pe.reasons, "API_KEY_INVALID") {
		return true
	}
	return strings.Contains(m, "api key") || strings.Contains(m, "api_key") || strings.Contains(m, "authentication")
}

// statusReason is the short reason for a non-2xx answer, not yet redacted,
// and its code.
func statusReason(r *response) reason {
	pe := parseProviderError(r.body)
	msg := shortMessage(pe.message)
	with := func(prefix string) string {
		if msg == "" {
			return fmt.Sprintf("%s (HTTP %d)", prefix, r.status)
		}
		return fmt.Sprintf("%s (HTTP %d): %s", prefix, r.status, msg)
	}
	quota := pe.code == "insufficient_quota" || pe.typ == "insufficient_quota"
	// A 4xx other than 402/429 names its code by what it says: out of
	// credit, else a 403 is a permission the key lacks.
	code4xx := func(otherwise Code) Code {
		switch {
		case outOfCredit(pe.message):
			return CodeInsufficientQuota
		case r.status == http.StatusForbidden:
			return CodePermissionDenied
		}
		return otherwise
	}
	switch {
	case isAuthFailure(r):
		return reason{code4xx(CodeInvalidKey), with("authentication failed")}
	case r.status == http.StatusPaymentRequired || quota:
		return reason{CodeInsufficientQuota, with("no quota")}
	case r.status == http.StatusTooManyRequests:
		return reason{CodeRateLimited, fmt.Sprintf("rate limited (HTTP %d)", r.status)}
	case r.status == http.StatusNotFound:
		return reason{CodeProviderError, with("not found")}
	case r.status >= 500:
		return reason{CodeProviderError, fmt.Sprintf("provider error (HTTP %d)", r.status)}
	default:
		return reason{code4xx(CodeProviderError), with("request failed")}
	}
}

// shortMessage keeps the first line of a provider message, bounded, printable.
func shortMessage(m string) string {
	m = strings.TrimSpace(m)
	if i := strings.IndexAny(m, "\r\n"); i >= 0 {
		m = m[:i]
	}
	m = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, m)
	if utf8.RuneCountInString(m) > maxReason {
		m = string([]rune(m)[:maxReason]) + "…"
	}
	return m
}
