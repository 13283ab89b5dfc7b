package usage

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/acme/provider-credentials/shared/credentials"
)

// Options configures a Prober. Zero values take the defaults.
type Options struct {
	// AllowPrivateNetworks (PROBE_ALLOW_PRIVATE_NETWORKS=1) lifts the address
	// check and allows plain http. Local testing only.
	AllowPrivateNetworks bool
	// Timeout bounds a whole probe (every request it makes). Default 10 s.
	Timeout time.Duration
	// MaxBodyBytes caps each response body read. Default 4 MiB.
	MaxBodyBytes int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Client replaces the SSRF-safe client (tests only; nil = NewHTTPClient).
	Client *http.Client

	resolve resolver // tests: replaces DNS in the default client
}

// Target is what to probe.
type Target struct {
	Provider   string
	AccountKey string
	BaseURL    string // "" = the provider's default
	APIKey     string
}

// Prober probes providers. It is safe for concurrent use; it holds no
// per-probe state.
type Prober struct {
	client       *http.Client
	allowPrivate bool
	timeout      time.Duration
	maxBody      int64
	now          func() time.Time
}

const (
	defaultTimeout = 10 * time.Second
	defaultMaxBody = 4 << 20
	// maxModels bounds the model list kept in a Result (DynamoDB item size).
	maxModels = 2000
	// maxReason bounds the provider message quoted in an error.
	maxReason = 160
	userAgent = "provider-credentials-probe/1"
)

// NewProber returns a Prober with opts' defaults filled in.
func NewProber(opts Options) *Prober {
	p := &Prober{
		client:       opts.Client,
		allowPrivate: opts.AllowPrivateNetworks,
		timeout:      opts.Timeout,
		maxBody:      opts.MaxBodyBytes,
		now:          opts.Now,
	}
	if p.client == nil {
		p.client = newHTTPClient(opts.AllowPrivateNetworks, opts.resolve)
	}
	if p.timeout <= 0 {
		p.timeout = defaultTimeout
	}
	if p.maxBody <= 0 {
		p.maxBody = defaultMaxBody
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Probe asks the provider what the key can do and how much of its rate-limit
// windows is left. It never fails: an unsupported provider, a refused base
// URL, an unreachable provider, a rejected key, a timeout or a TLS failure
// come back as Reachable=false with a short, redacted Error.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	checked := p.now().UTC().Truncate(time.Microsecond)
	s := &session{p: p, t: t, res: Result{Provider: t.Provider, AccountKey: t.AccountKey, CheckedAt: checked}}
	s.run(ctx)
	return s.finish()
}

// session is the state of one probe.
type session struct {
	p    *Prober
	t    Target
	prov *provider
	res  Result
	win  windows
	hdrs map[string]bool

	reachable bool   // some request got an answer that shows the key works
	fatal     string // a reason that ends the probe: Reachable=false
	errReason string // first non-fatal problem
	// lastResort explains an unreachable result when nothing else does.
	lastResort string
	notes      []string
}

func (s *session) fail(reason string) { s.fatal = reason }

func (s *session) problem(reason string) {
	if s.errReason == "" {
		s.errReason = reason
	}
}

func (s *session) run(ctx context.Context) {
	prov, ok := lookupProvider(s.t.Provider)
	if !ok {
		s.fail("unsupported provider")
		return
	}
	s.prov = prov
	base := strings.TrimSpace(s.t.BaseURL)
	if base == "" {
		if credentials.NeedsBaseURL(prov.name) || prov.defaultBase == "" {
			s.fail("base_url required")
			return
		}
		base = prov.defaultBase
	}
	if err := ValidateBaseURL(prov.name, base, s.p.allowPrivate); err != nil {
		s.fail(err.Error())
		return
	}
	if s.t.APIKey == "" && !prov.keyOptional {
		s.fail("no API key configured")
		return
	}
	base = strings.TrimRight(base, "/")
	pl := prov.plan(base)
	if pl.note != "" {
		s.notes = append(s.notes, pl.note)
	}

	ctx, cancel := context.WithTimeout(ctx, s.p.timeout)
	defer cancel()

	// 1. Zero-cost model list.
	var listed []string
	if pl.modelsURL != "" {
		r, ok := s.call(ctx, "GET", pl.modelsURL, nil)
		if !ok {
			return
		}
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
				return
			}
		default:
			// Not a verdict on the key: later requests may still work.
			reason := statusReason(r)
			s.notes = append(s.notes, "model list: "+reason)
			if s.lastResort == "" {
				s.lastResort = reason
			}
		}
	}

	// 2. Zero-cost quota / key-status endpoints.
	for _, x := range pl.extras {
		var body []byte
		if x.method == "POST" {
			body = []byte("{}")
		}
		r, ok := s.call(ctx, x.method, x.url, body)
		if !ok {
			return
		}
		if r.status/100 != 2 {
			if isAuthFailure(r) || r.status == http.StatusTooManyRequests || r.status == http.StatusPaymentRequired {
				if !s.judge(r) {
					return
				}
			} else {
				s.notes = append(s.notes, "quota endpoint: "+statusReason(r))
			}
			continue
		}
		s.reachable = true
		if !s.readExtra(x.kind, r.body) {
			return
		}
	}

	// 3. The cheapest request that returns the windows.
	if prov.infer != inferNone && pl.inferURL != "" {
		model := pl.model
		if model == "" {
			model = prov.pickModel(listed)
		}
		if model == "" {
			s.notes = append(s.notes, "no model to probe")
		} else {
			s.infer(ctx, pl.inferURL, model, pl.sendModel)
		}
	}
}

// judge handles a non-2xx answer: false when it ends the probe.
func (s *session) judge(r *response) bool {
	reason := statusReason(r)
	switch {
	case isAuthFailure(r):
		s.fail(reason)
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
			s.problem("no quota (insufficient balance)")
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
			s.problem("no quota (key credit limit reached)")
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
			s.fail("API key disabled")
			return false
		case isTrue(k.Blocked):
			s.fail("API key blocked")
			return false
		case isTrue(k.TeamBlocked):
			s.fail("team blocked")
			return false
		}
	case extraCohereCheck:
		var c struct {
			Valid *bool `json:"valid"`
		}
		if json.Unmarshal(body, &c) == nil && c.Valid != nil && !*c.Valid {
			s.fail("authentication failed: key not valid")
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

// response is one answer, body capped.
type response struct {
	status   int
	header   http.Header
	body     []byte
	tooLarge bool
	latency  time.Duration
}

// call makes one request. ok is false when no answer came (the reason is
// then recorded as fatal).
func (s *session) call(ctx context.Context, method, url string, body []byte) (*response, bool) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		s.fail("invalid request")
		return nil, false
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	setAuth(req.Header, s.prov.auth, s.t.APIKey)
	start := time.Now()
	resp, err := s.p.client.Do(req)
	if err != nil {
		s.fail(transportReason(ctx, err))
		return nil, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.p.maxBody+1))
	lat := time.Since(start)
	if err != nil {
		s.fail(transportReason(ctx, err))
		return nil, false
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: data, latency: lat}
	if int64(len(data)) > s.p.maxBody {
		r.tooLarge, r.body = true, data[:s.p.maxBody]
	}
	if r.status/100 == 3 {
		s.fail(fmt.Sprintf("redirect not followed (HTTP %d)", r.status))
		return nil, false
	}
	s.readHeaders(resp.Header)
	return r, true
}

func setAuth(h http.Header, kind authKind, key string) {
	if key == "" {
		return
	}
	switch kind {
	case authBearer:
		h.Set("Authorization", "Bearer "+key)
	case authAnthropic:
		h.Set("x-api-key", key)
		h.Set("anthropic-version", "2023-06-01")
	case authGoogle:
		h.Set("x-goog-api-key", key)
	case authAzure:
		h.Set("api-key", key)
	}
}

func (s *session) readHeaders(h http.Header) {
	received := s.p.now()
	s.win.overlay(s.prov.family.parseHeaders(h, received))
	for _, n := range rateLimitHeaderNames(h) {
		if s.hdrs == nil {
			s.hdrs = map[string]bool{}
		}
		s.hdrs[n] = true
	}
}

// finish builds the Result and scrubs every string in it of the key.
func (s *session) finish() Result {
	res := s.res
	key := s.t.APIKey
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
	for n := range s.hdrs {
		if !containsSecretRun(n, key) {
			res.DebugRateLimitHeaders = append(res.DebugRateLimitHeaders, n)
		}
	}
	slices.Sort(res.DebugRateLimitHeaders)
	if len(res.DebugRateLimitHeaders) > 64 {
		res.DebugRateLimitHeaders = res.DebugRateLimitHeaders[:64]
	}

	switch {
	case s.fatal != "":
		res.Reachable = false
		res.Error = strPtr(Redact(s.fatal, key))
	case !s.reachable:
		res.Reachable = false
		reason := s.errReason
		if reason == "" {
			reason = s.lastResort
		}
		if reason == "" {
			reason = "provider did not answer usefully"
		}
		res.Error = strPtr(Redact(reason, key))
	default:
		res.Reachable = true
		if s.errReason != "" {
			res.Error = strPtr(Redact(s.errReason, key))
		}
	}
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

	// Defence in depth: nothing the provider sent may carry the key out.
	if key != "" {
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
	return res
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

// statusReason is the short reason for a non-2xx answer, not yet redacted.
func statusReason(r *response) string {
	pe := parseProviderError(r.body)
	msg := shortMessage(pe.message)
	with := func(prefix string) string {
		if msg == "" {
			return fmt.Sprintf("%s (HTTP %d)", prefix, r.status)
		}
		return fmt.Sprintf("%s (HTTP %d): %s", prefix, r.status, msg)
	}
	quota := pe.code == "insufficient_quota" || pe.typ == "insufficient_quota"
	switch {
	case isAuthFailure(r):
		return with("authentication failed")
	case r.status == http.StatusPaymentRequired || quota:
		return with("no quota")
	case r.status == http.StatusTooManyRequests:
		return fmt.Sprintf("rate limited (HTTP %d)", r.status)
	case r.status == http.StatusNotFound:
		return with("not found")
	case r.status >= 500:
		return fmt.Sprintf("provider error (HTTP %d)", r.status)
	default:
		return with("request failed")
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

// transportReason turns a transport error into a short reason. It never
// prints the error itself (a *url.Error holds the full URL).
func transportReason(ctx context.Context, err error) string {
	var (
		dnsErr      *net.DNSError
		certInvalid x509.CertificateInvalidError
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		netErr      net.Error
	)
	switch {
	case errors.Is(err, ErrAddressNotAllowed):
		return "address not allowed"
	case errors.Is(err, errNotHTTPS):
		return "https required"
	case errors.Is(err, errRedirect):
		return "redirect not followed"
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &certInvalid), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr):
		return "TLS handshake failed"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "host not found"
		}
		return "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"),
		strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		return "TLS handshake failed"
	}
	return "connection failed"
}
