package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/acme/provider-credentials/shared/credentials"
)

// session is the state of one probe.
type session struct {
	p    *Prober
	t    Target
	prov *provider
	res  Result
	win  windows
	hdrs map[string]bool

	reachable bool   // some request got an answer that shows the key works
	fatal     reason // a reason that ends the probe: Reachable=false
	errReason reason // first non-fatal problem
	// lastResort explains an unreachable result when nothing else does.
	lastResort reason
	notes      []string
}

func (s *session) fail(code Code, text string) { s.fatal = reason{code, text} }

func (s *session) problem(r reason) {
	if s.errReason.text == "" {
		s.errReason = r
	}
}

func (s *session) run(ctx context.Context) {
	pl, ok := s.prepare()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.p.timeout)
	defer cancel()

	listed, ok := s.listModels(ctx, pl.modelsURL)
	if !ok {
		return
	}
	if !s.readExtras(ctx, pl.extras) {
		return
	}
	s.sample(ctx, pl, listed)
}

// prepare checks the target before any request and returns what to request:
// false when the target cannot be probed (the reason is then fatal).
func (s *session) prepare() (plan, bool) {
	prov, ok := lookupProvider(s.t.Provider)
	if !ok {
		s.fail(CodeProviderError, "unsupported provider")
		return plan{}, false
	}
	s.prov = prov
	base := strings.TrimSpace(s.t.BaseURL)
	if base == "" {
		if credentials.NeedsBaseURL(prov.name) || prov.defaultBase == "" {
			s.fail(CodeBadBaseURL, "base_url required")
			return plan{}, false
		}
		base = prov.defaultBase
	}
	if err := ValidateBaseURL(prov.name, base, s.p.allowPrivate); err != nil {
		code := CodeBadBaseURL
		if errors.Is(err, errBaseURLAddress) {
			code = CodeAddressNotAllowed
		}
		s.fail(code, err.Error())
		return plan{}, false
	}
	if s.t.APIKey == "" && !prov.keyOptional {
		s.fail(CodeNoKey, "no API key configured")
		return plan{}, false
	}
	pl := prov.plan(strings.TrimRight(base, "/"))
	if pl.note != "" {
		s.notes = append(s.notes, pl.note)
	}
	return pl, true
}

// listModels is step 1, the zero-cost model list (none when url is ""). It
// returns the listed ids; false when the probe ends.
func (s *session) listModels(ctx context.Context, url string) ([]string, bool) {
	if url == "" {
		return nil, true
	}
	prov := s.prov
	r, ok := s.call(ctx, "GET", url, nil)
	if !ok {
		return nil, false
	}
	var listed []string
	switch {
	case r.status/100 == 2 && r.tooLarge:
		s.notes = append(s.notes, "model list too large to read")
		s.reachable = true
	case r.status/100 == 2:
		if ids, err := parseModels(r.body, prov.shape, prov.stripPrefix); err == nil {
			listed = ids
			s.res.Models = sortedModels(ids)
			s.reachable = true
		} else {
			s.notes = append(s.notes, "model list unreadable")
		}
	case prov.modelListOptional && r.status >= 500:
		s.notes = append(s.notes, fmt.Sprintf("model list unavailable (HTTP %d)", r.status))
	case isAuthFailure(r), r.status == http.StatusTooManyRequests, r.status == http.StatusPaymentRequired:
		if !s.judge(r) {
			return nil, false
		}
	default:
		// Not a verdict on the key: later requests may still work.
		reason := statusReason(r)
		s.notes = append(s.notes, "model list: "+reason.text)
		if s.lastResort.text == "" {
			s.lastResort = reason
		}
	}
	return listed, true
}

// readExtras is step 2, the zero-cost quota and key-status endpoints: false
// when the probe ends.
func (s *session) readExtras(ctx context.Context, extras []extraCall) bool {
	for _, x := range extras {
		var body []byte
		if x.method == "POST" {
			body = []byte("{}")
		}
		r, ok := s.call(ctx, x.method, x.url, body)
		if !ok {
			return false
		}
		if r.status/100 != 2 {
			if isAuthFailure(r) || r.status == http.StatusTooManyRequests || r.status == http.StatusPaymentRequired {
				if !s.judge(r) {
					return false
				}
			} else {
				s.notes = append(s.notes, "quota endpoint: "+statusReason(r).text)
			}
			continue
		}
		s.reachable = true
		if !s.readExtra(x.kind, r.body) {
			return false
		}
	}
	return true
}

// sample is step 3, the cheapest request that returns the windows, where the
// provider shows them only on inference.
func (s *session) sample(ctx context.Context, pl plan, listed []string) {
	if s.prov.infer == inferNone || pl.inferURL == "" {
		return
	}
	model := pl.model
	if model == "" {
		model = s.prov.pickModel(listed)
	}
	if model == "" {
		s.notes = append(s.notes, "no model to probe")
		return
	}
	s.infer(ctx, pl.inferURL, model, pl.sendModel)
}

// judge handles a non-2xx answer: false when it ends the probe.
func (s *session) judge(r *response) bool {
	reason := statusReason(r)
	switch {
	case isAuthFailure(r):
		s.fatal = reason
		return false
	case r.status == http.StatusTooManyRequests || r.status == http.StatusPaymentRequired:
		s.reachable = true // the key is known; it is out of quota or rate
		s.problem(reason)
	default:
		s.problem(reason)
	}
	return true
}

// infer sends one max_tokens=1 request; the OpenAI and Anthropic bodies
// share this shape.
func (s *session) infer(ctx context.Context, url, model string, sendModel bool) {
	req := map[string]any{
		"max_tokens": 1,
		"messages":   []map[string]string{{"role": "user", "content": "hi"}},
	}
	if sendModel {
		req["model"] = model
	}
	body, _ := json.Marshal(req)
	r, ok := s.call(ctx, "POST", url, body)
	if !ok {
		return
	}
	s.res.SampleModel = &model
	lat := r.latency.Milliseconds()
	s.res.SampleLatencyMS = &lat
	if r.status/100 != 2 {
		s.judge(r)
		return
	}
	s.reachable = true
	var u struct {
		Usage struct {
			PromptTokens     *int64 `json:"prompt_tokens"`
			CompletionTokens *int64 `json:"completion_tokens"`
			InputTokens      *int64 `json:"input_tokens"`
			OutputTokens     *int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if json.Unmarshal(trimJSON(r.body), &u) == nil {
		s.res.SampleInputTokens = firstNonNeg(u.Usage.PromptTokens, u.Usage.InputTokens)
		s.res.SampleOutputTokens = firstNonNeg(u.Usage.CompletionTokens, u.Usage.OutputTokens)
	}
}

func firstNonNeg(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil && *v >= 0 {
			return v
		}
	}
	return nil
}

// readExtra reads a zero-cost quota endpoint: false when it ends the probe.
func (s *session) readExtra(kind extraKind, body []byte) bool {
	body = trimJSON(body)
	switch kind {
	case extraDeepSeekBalance:
		var b Balance
		if json.Unmarshal(body, &b) != nil {
			s.notes = append(s.notes, "balance unreadable")
			return true
		}
		s.res.Balance = &b
		if b.IsAvailable != nil && !*b.IsAvailable {
			s.problem(reason{CodeInsufficientQuota, "no quota (insufficient balance)"})
		}
	case extraOpenRouterKey:
		var k struct {
			Data *Credits `json:"data"` // label (a masked key) is not read
		}
		if json.Unmarshal(body, &k) != nil || k.Data == nil {
			s.notes = append(s.notes, "key info unreadable")
			return true
		}
		s.res.Credits = k.Data
		if k.Data.Limit != nil && k.Data.LimitRemaining != nil && *k.Data.LimitRemaining <= 0 {
			s.problem(reason{CodeInsufficientQuota, "no quota (key credit limit reached)"})
		}
	case extraXAIKey:
		var k KeyStatus // redacted_api_key and name are not read
		if json.Unmarshal(body, &k) != nil {
			s.notes = append(s.notes, "key info unreadable")
			return true
		}
		s.res.KeyStatus = &k
		switch {
		case isTrue(k.Disabled):
			s.fail(CodeInvalidKey, "API key disabled")
			return false
		case isTrue(k.Blocked):
			s.fail(CodePermissionDenied, "API key blocked")
			return false
		case isTrue(k.TeamBlocked):
			s.fail(CodePermissionDenied, "team blocked")
			return false
		}
	case extraCohereCheck:
		var c struct {
			Valid *bool `json:"valid"`
		}
		if json.Unmarshal(body, &c) == nil && c.Valid != nil && !*c.Valid {
			s.fail(CodeInvalidKey, "authentication failed: key not valid")
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }
