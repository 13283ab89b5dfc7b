package localapi_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/openapicheck"
)

type healthView struct {
	Status       string  `json:"status"`
	ErrorCode    *string `json:"error_code"`
	FailingSince *string `json:"failing_since"`
	LastOKAt     *string `json:"last_ok_at"`
	CheckedAt    *string `json:"checked_at"`
	QuotaLow     any     `json:"quota_low"`
}

// TestHealthThroughTheAPI: usage reads keep the credential's health, the
// credential routes serve it (validated against openapi.yaml) at their
// usual cost, a key change makes it unknown, and the test route leaves it.
func TestHealthThroughTheAPI(t *testing.T) {
	const bad, good = "sk-health-bad-1111", "sk-health-good-2222"
	fake := newFakeOpenAI(t, good)
	h := newHarness(t)
	doc, err := openapicheck.Load(context.Background(), filepath.Join(awstest.RepoRoot(), "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	admin, member := h.token("org-h", "admin"), h.token("org-h", "member")
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "default", "api_key": bad, "base_url": fake.URL + "/v1"})
	one := "/provider-credentials/" + c.ID
	get := func(step string) healthView {
		t.Helper()
		h.env.Calls.Reset()
		r := h.do("GET", one, member, nil)
		wantStatus(t, r, 200)
		if ops := h.env.Calls.Ops(); len(ops) != 1 || ops[0] != "DynamoDB.GetItem" {
			t.Fatalf("%s: get made %v, want one GetItem", step, ops)
		}
		if err := doc.ValidateResponse(context.Background(), "GET", "/provider-credentials/{credential_id}", one,
			map[string]string{"credential_id": c.ID}, openapicheck.Response{Status: r.status, Header: r.header, Body: r.body}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var v struct{ Health healthView }
		r.json(t, &v)
		return v.Health
	}
	if v := get("new"); v.Status != "unknown" || v.ErrorCode != nil || v.CheckedAt != nil || v.LastOKAt != nil {
		t.Fatalf("a new credential's health = %+v, want unknown", v)
	}

	_, r := h.usage(member, c.ID, "")
	wantStatus(t, r, 200)
	failing := get("rejected")
	if failing.Status != "failing" || failing.ErrorCode == nil || *failing.ErrorCode != "invalid_key" || failing.FailingSince == nil || failing.LastOKAt != nil {
		t.Fatalf("after a rejected probe: %+v, want failing invalid_key since now", failing)
	}
	_, r = h.usage(member, c.ID, "?refresh=true")
	wantStatus(t, r, 200)
	if again := get("rejected again"); *again.FailingSince != *failing.FailingSince || *again.CheckedAt != *failing.CheckedAt {
		t.Fatalf("still failing: %+v, want failing_since and checked_at of %+v", again, failing)
	}

	// The test route probes a key it is given and stores nothing.
	r = h.do("POST", "/provider-credentials/test", admin, map[string]any{"provider": "openai", "api_key": good, "base_url": fake.URL + "/v1"})
	wantStatus(t, r, 200)
	if v := get("after a test"); v.Status != "failing" {
		t.Fatalf("after the test route: %+v, want failing still", v)
	}

	// A new key: its health is not known yet, whatever the old key's was.
	r = h.do("PATCH", one, admin, map[string]any{"api_key": good})
	wantStatus(t, r, 200)
	var patched struct{ Health healthView }
	r.json(t, &patched)
	if patched.Health.Status != "unknown" {
		t.Fatalf("after a key change: %+v, want unknown", patched.Health)
	}
	_, r = h.usage(member, c.ID, "")
	wantStatus(t, r, 200)
	if v := get("new key works"); v.Status != "ok" || v.ErrorCode != nil || v.FailingSince != nil || v.LastOKAt == nil {
		t.Fatalf("after a working probe: %+v, want ok", v)
	}

	h.env.Calls.Reset()
	r = h.do("GET", "/provider-credentials", member, nil)
	wantStatus(t, r, 200)
	if ops := h.env.Calls.Ops(); len(ops) != 1 || ops[0] != "DynamoDB.Query" {
		t.Fatalf("list made %v, want one Query", ops)
	}
	if err := doc.ValidateResponse(context.Background(), "GET", "/provider-credentials", "/provider-credentials", nil,
		openapicheck.Response{Status: r.status, Header: r.header, Body: r.body}); err != nil {
		t.Fatal(err)
	}
	var list []struct{ Health healthView }
	r.json(t, &list)
	if len(list) != 1 || list[0].Health.Status != "ok" {
		t.Fatalf("listed %s", r.body)
	}
}
