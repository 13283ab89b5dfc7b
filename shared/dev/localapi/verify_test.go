package localapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type verifyDetail struct {
	Detail []struct {
		Loc       []any  `json:"loc"`
		Msg       string `json:"msg"`
		Type      string `json:"type"`
		ErrorCode string `json:"error_code"`
		Error     string `json:"error"`
	} `json:"detail"`
}

// wantRejected checks a failed verification: 422, one FastAPI-style entry
// with the error code, and no trace of the key in the answer or the log.
func (h *harness) wantRejected(r response, code, key string) {
	h.t.Helper()
	wantStatus(h.t, r, 422)
	var d verifyDetail
	if err := json.Unmarshal(r.body, &d); err != nil || len(d.Detail) != 1 {
		h.t.Fatalf("detail %s: %v", r.body, err)
	}
	if e := d.Detail[0]; e.ErrorCode != code || e.Type != "key_verification_failed" || e.Error == "" || e.Msg == "" {
		h.t.Errorf("detail = %+v, want error_code %s", e, code)
	}
	// The fake echoes the key's first 8 and last 4 characters.
	for _, part := range []string{key, key[:8], key[len(key)-4:]} {
		if strings.Contains(string(r.body), part) || strings.Contains(h.log.String(), part) {
			h.t.Errorf("the rejected key (%q) shows in the answer or the log: %s", part, r.body)
		}
	}
}

// TestVerifyBeforeSave runs ?verify=true against a fake provider that
// accepts one key, rejects the others with OpenAI's 401, and one that
// never answers in time.
func TestVerifyBeforeSave(t *testing.T) {
	const good, good2, bad = "sk-verify-good-key-AAAA", "sk-verify-good-key-CCCC", "sk-verify-rejected-key-BBBB"
	fake := newFakeOpenAI(t, good, good2)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	h := newHarness(t, "PROBE_TIMEOUT_SECONDS", "1")
	admin, member := h.token("org-v", "admin"), h.token("org-v", "member")
	base := fake.URL + "/v1"

	// Rejected and unreachable: 422, nothing stored.
	h.wantRejected(h.do("POST", "/provider-credentials?verify=true", admin, map[string]any{
		"provider": "openai_compatible", "account_key": "a", "api_key": bad, "base_url": base}), "invalid_key", bad)
	h.wantRejected(h.do("POST", "/provider-credentials?verify=true", admin, map[string]any{
		"provider": "openai_compatible", "account_key": "a", "api_key": good, "base_url": slow.URL + "/v1"}), "timeout", good)
	if items := h.scan(); len(items) != 0 {
		t.Fatalf("a rejected create stored %d items", len(items))
	}
	h.checkConsistent()

	// Accepted: stored, and the next usage read costs no probe.
	r := h.do("POST", "/provider-credentials?verify=true", admin, map[string]any{
		"provider": "openai_compatible", "account_key": "a", "api_key": good, "base_url": base})
	wantStatus(t, r, 201)
	var c credential
	r.json(t, &c)
	probes := len(fake.seen())
	u, ur := h.usage(member, c.ID, "")
	wantStatus(t, ur, 200)
	if !u.Reachable || u.Tokens.Limit == nil || len(fake.seen()) != probes {
		t.Errorf("usage after a verified create: reachable %v, %d more probes; want the verified result, no probe", u.Reachable, len(fake.seen())-probes)
	}

	// PATCH: a rejected rotation changes nothing; the stored key still works.
	before := h.scan()
	h.wantRejected(h.do("PATCH", "/provider-credentials/"+c.ID+"?verify=true", admin, map[string]any{"api_key": bad}), "invalid_key", bad)
	h.wantRejected(h.do("PATCH", "/provider-credentials/"+c.ID+"?verify=true", admin, map[string]any{
		"api_key": good2, "base_url": slow.URL + "/v1"}), "timeout", good2)
	if after := h.scan(); len(after) != len(before) || after[0] != before[0] || h.storedKey("org-v", c.ID) != good {
		t.Errorf("a rejected PATCH changed the credential: %+v → %+v", before, after)
	}
	wantStatus(t, h.do("PATCH", "/provider-credentials/"+c.ID+"?verify=true", admin, map[string]any{"display_name": "x"}), 422)

	// An accepted rotation: stored, and its probe serves the next read.
	wantStatus(t, h.do("PATCH", "/provider-credentials/"+c.ID+"?verify=true", admin, map[string]any{"api_key": good2}), 200)
	if h.storedKey("org-v", c.ID) != good2 {
		t.Error("the verified key is not the one stored")
	}
	probes = len(fake.seen())
	u, _ = h.usage(member, c.ID, "")
	if !u.Reachable || len(fake.seen()) != probes {
		t.Errorf("usage after a verified rotation: reachable %v, %d more probes; want none", u.Reachable, len(fake.seen())-probes)
	}
	// Without the flag nothing is probed: the rejected key is stored as today.
	probes = len(fake.seen())
	wantStatus(t, h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": bad}), 200)
	if len(fake.seen()) != probes {
		t.Error("a PATCH without verify probed")
	}
	h.checkConsistent()
}
