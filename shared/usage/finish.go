package usage

import (
	"slices"
	"strings"
)

// finish builds the Result and scrubs every string in it of the key.
func (s *session) finish() Result {
	res := s.res
	key := s.t.APIKey
	s.fillWindows(&res)
	res.DebugRateLimitHeaders = s.debugHeaders(key)
	s.verdict(&res)
	if s.prov != nil && (res.Reachable || s.win.any()) {
		exposed := s.win.any()
		res.WindowsExposed = &exposed
	}
	if res.Reachable && s.prov.note != "" {
		s.notes = append(s.notes, s.prov.note)
	}
	if res.Reachable && s.prov.windowsByDesign && !s.win.any() && s.prov.infer != inferNone && res.SampleModel != nil {
		s.notes = append(s.notes, "provider sent no rate-limit headers")
	}
	if len(s.notes) > 0 {
		res.Note = strPtr(Redact(strings.Join(s.notes, "; "), key))
	}
	scrub(&res, key)
	return res
}

// fillWindows computes the Result's windows from the raw header values.
func (s *session) fillWindows(res *Result) {
	period := func(w window) string {
		if s.prov == nil {
			return ""
		}
		return s.prov.family.periods[w]
	}
	res.Tokens = s.win[winTokens].tokenWindow(res.CheckedAt, period(winTokens))
	res.InputTokens = s.win[winInput].tokenWindow(res.CheckedAt, period(winInput))
	res.OutputTokens = s.win[winOutput].tokenWindow(res.CheckedAt, period(winOutput))
	res.Requests = s.win[winRequests].requestWindow(res.CheckedAt, period(winRequests))
}

// debugHeaders lists the rate-limit header names seen, sorted, at most 64,
// without any name that carries a run of the key; nil when none.
func (s *session) debugHeaders(key string) []string {
	var out []string
	for n := range s.hdrs {
		if !containsSecretRun(n, key) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

// verdict sets Reachable, the redacted Error and its ErrorCode.
func (s *session) verdict(res *Result) {
	var r reason
	switch {
	case s.fatal.text != "":
		res.Reachable = false
		r = s.fatal
	case !s.reachable:
		res.Reachable = false
		r = s.errReason
		if r.text == "" {
			r = s.lastResort
		}
		if r.text == "" {
			r = reason{CodeProviderError, "provider did not answer usefully"}
		}
	default:
		res.Reachable = true
		r = s.errReason
	}
	if r.text != "" {
		res.Error = strPtr(Redact(r.text, s.t.APIKey))
		code := r.code
		res.ErrorCode = &code
	}
}

// scrub is defence in depth: nothing the provider sent may carry the key out.
func scrub(res *Result, key string) {
	if key == "" {
		return
	}
	res.Models = slices.DeleteFunc(res.Models, func(m string) bool { return containsSecretRun(m, key) })
	if res.SampleModel != nil && containsSecretRun(*res.SampleModel, key) {
		res.SampleModel = strPtr(redactedMark)
	}
	if res.Credits != nil && res.Credits.LimitReset != nil {
		res.Credits.LimitReset = strPtr(Redact(*res.Credits.LimitReset, key))
	}
	if res.Balance != nil {
		for i := range res.Balance.Infos {
			b := &res.Balance.Infos[i]
			b.Currency, b.TotalBalance = Redact(b.Currency, key), Redact(b.TotalBalance, key)
			b.GrantedBalance, b.ToppedUpBalance = Redact(b.GrantedBalance, key), Redact(b.ToppedUpBalance, key)
		}
	}
	if res.KeyStatus != nil {
		res.KeyStatus.ACLs = slices.DeleteFunc(res.KeyStatus.ACLs, func(a string) bool { return containsSecretRun(a, key) })
	}
}

// containsSecretRun reports whether s holds a run of 8 or more characters of
// key, or a masked key form. Used for identifiers (model ids, header names)
// that are dropped rather than rewritten: short runs shared with ordinary
// words (a key's "sk-proj-" prefix and a model's "-pro") must not drop them.
func containsSecretRun(s, key string) bool {
	if key == "" {
		return false
	}
	n := min(8, len(key))
	for i := 0; i+n <= len(key); i++ {
		if strings.Contains(s, key[i:i+n]) {
			return true
		}
	}
	return maskedKey.MatchString(s)
}

func strPtr(s string) *string { return &s }
