package localapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dynamo"
)

// TestCreatedByAndUpdatedBy: the token's sub is stamped on the credential
// when it is created and on every change after, by whichever write path
// the change takes (one conditional write, or the locked key paths).
func TestCreatedByAndUpdatedBy(t *testing.T) {
	h := newHarness(t)
	alice := h.tokenWith(map[string]any{"sub": "alice", "org_id": "org-a", "org_role": "admin"})
	bob := h.tokenWith(map[string]any{"sub": "bob", "org_id": "org-a", "org_role": "admin"})
	carol := h.tokenWith(map[string]any{"sub": "carol", "org_id": "org-a", "org_role": "member"})

	type who struct {
		CreatedBy *string `json:"created_by"`
		UpdatedBy *string `json:"updated_by"`
	}
	check := func(step string, r response, created, updated string) {
		t.Helper()
		var w who
		r.json(t, &w)
		if w.CreatedBy == nil || *w.CreatedBy != created || w.UpdatedBy == nil || *w.UpdatedBy != updated {
			t.Errorf("%s: created_by %v, updated_by %v; want %q, %q", step, deref(w.CreatedBy), deref(w.UpdatedBy), created, updated)
		}
	}
	r := h.do("POST", "/provider-credentials", alice, map[string]any{"provider": "openai", "account_key": "a", "api_key": "sk-actor-test-0001"})
	wantStatus(t, r, http.StatusCreated)
	check("create", r, "alice", "alice")
	var c credential
	r.json(t, &c)
	path := "/provider-credentials/" + c.ID

	r = h.do("PATCH", path, bob, map[string]any{"display_name": "renamed"})
	wantStatus(t, r, http.StatusOK)
	check("patch display name", r, "alice", "bob")
	r = h.do("PATCH", path, alice, map[string]any{"api_key": "sk-actor-test-0002"})
	wantStatus(t, r, http.StatusOK)
	check("rotate key", r, "alice", "alice")
	r = h.do("PATCH", path, bob, map[string]any{"api_key": ""})
	wantStatus(t, r, http.StatusOK)
	check("clear key", r, "alice", "bob")

	// A member can read it; the read changes nothing.
	r = h.do("GET", path, carol, nil)
	wantStatus(t, r, http.StatusOK)
	check("get by a member", r, "alice", "bob")
	r = h.do("GET", "/provider-credentials", carol, nil)
	wantStatus(t, r, http.StatusOK)
	var list []who
	r.json(t, &list)
	if len(list) != 1 || deref(list[0].CreatedBy) != "alice" || deref(list[0].UpdatedBy) != "bob" {
		t.Errorf("list: got %+v, want one credential created by alice, updated by bob", list)
	}
}

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestPatchDropsAnExpiredLock: a display-name change over a lock left by a
// request that died leaves no lock attributes behind, so the change feed's
// stream filter (a new image with a lock is a locking write) cannot drop
// it; and the lock names who took it, for the delete's event.
func TestPatchDropsAnExpiredLock(t *testing.T) {
	ctx := credentials.WithActor(context.Background(), "bob")
	h := newHarness(t)
	c := h.create(h.tokenWith(map[string]any{"sub": "alice", "org_id": "org-a", "org_role": "admin"}), map[string]any{"provider": "openai", "account_key": "a"})
	store := dynamo.New(h.env.DDB, h.env.CredTable, h.env.UsageTable)
	raw := func() map[string]ddbtypes.AttributeValue {
		out, err := h.env.DDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &h.env.CredTable, Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "org-a"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "CRED#" + c.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	if _, err := store.Lock(ctx, "org-a", c.ID, "dead-request", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if by, _ := raw()["key_lock_by"].(*ddbtypes.AttributeValueMemberS); by == nil || by.Value != "bob" {
		t.Errorf("key_lock_by = %v, want bob", raw()["key_lock_by"])
	}
	name := "renamed"
	if _, err := store.Patch(ctx, "org-a", c.ID, credentials.Patch{DisplayName: &name, UpdatedAt: credentials.FormatTime(time.Now()), UpdatedBy: "bob"}); err != nil {
		t.Fatal(err)
	}
	item := raw()
	for _, a := range dynamo.LockAttributes {
		if _, ok := item[a]; ok {
			t.Errorf("after the patch the item still has %s", a)
		}
	}
	if d, _ := item["display_name"].(*ddbtypes.AttributeValueMemberS); d == nil || d.Value != name {
		t.Errorf("display_name = %v, want %q", item["display_name"], name)
	}
}
