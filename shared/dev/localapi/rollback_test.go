package localapi_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// rotated makes a credential whose key was rotated once: from
// sk-old-key-1111 to testKey.
func rotated(h *harness, admin string) string {
	id := h.create(admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": "sk-old-key-1111"}).ID
	wantStatus(h.t, h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": testKey}), 200)
	return id
}

// rolledBack makes a rotated credential rolled back once (to
// sk-old-key-1111), so the next rollback rolls forward to testKey.
func rolledBack(h *harness, admin string) string {
	id := rotated(h, admin)
	wantStatus(h.t, rollbackCred(h, admin, id), 200)
	return id
}

// rollbackCred rolls the credential back and, whatever the answer, checks
// that its secret's AWSCURRENT is the version the credential names: a
// failed rollback must have moved the label back.
func rollbackCred(h *harness, admin, id string) response {
	r := h.do("POST", "/provider-credentials/"+id+"/rollback", admin, nil)
	if err := h.labelsAgree(); err != nil {
		h.t.Errorf("rollback answered %d, then: %v", r.status, err)
	}
	return r
}

// rolledBackTo is a rollback's effect: the stored key is want, and its
// secret's current version.
func rolledBackTo(want string) func(h *harness, id string) error {
	return func(h *harness, id string) error {
		if got := h.storedKey("org-f", id); got != want {
			return fmt.Errorf("stored key is not the one rolled back to")
		}
		return h.labelsAgree()
	}
}

// labelsAgree reports a credential whose key version is not its secret's
// AWSCURRENT. Its clients are its own, so that its calls are not counted,
// nor failed, by the harness's fault plan (it runs inside a faulted path).
func (h *harness) labelsAgree() error {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	sm, ddb := secretsmanager.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg)
	out, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: &h.env.CredTable})
	if err != nil {
		return fmt.Errorf("scan: %v", err)
	}
	var items []storedCred
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
		return fmt.Errorf("decode scan: %v", err)
	}
	for _, c := range items {
		if c.Kind != "credential" || !c.HasAPIKey {
			continue
		}
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &c.SecretName})
		if err != nil {
			return fmt.Errorf("describe secret of %s: %v", c.ID, err)
		}
		if !slices.Contains(d.VersionIdsToStages[c.KeyVersion], "AWSCURRENT") {
			return fmt.Errorf("credential %s names version %s, which is not AWSCURRENT (%v)", c.ID, c.KeyVersion, d.VersionIdsToStages)
		}
	}
	return nil
}

func TestRollbackThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	admin, member := h.token("org-f", "admin"), h.token("org-f", "member")
	id := rotated(h, admin)

	wantStatus(t, h.do("POST", "/provider-credentials/"+id+"/rollback", member, nil), 403)
	r := rollbackCred(h, admin, id)
	wantStatus(t, r, 200)
	var c credential
	r.json(t, &c)
	if c.APIKeyLastFour == nil || *c.APIKeyLastFour != "1111" {
		t.Errorf("api_key_last_four after a rollback = %v, want 1111", c.APIKeyLastFour)
	}
	if got := h.storedKey("org-f", id); got != "sk-old-key-1111" {
		t.Error("the stored key is not the one from before the rotation")
	}
	wantStatus(t, rollbackCred(h, admin, id), 200)
	if got := h.storedKey("org-f", id); got != testKey {
		t.Error("a second rollback did not roll forward")
	}

	wantStatus(t, h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": ""}), 200)
	r = rollbackCred(h, admin, id)
	wantStatus(t, r, 409)
	wantStatus(t, h.do("POST", "/provider-credentials/"+id+"/rollback", h.token("org-other", "admin"), nil), 404)
	h.checkConsistent()
}

// TestRollbackRaces races a rollback against a key PATCH, a DELETE and
// another rollback: whatever wins, the stores agree, the secret's current
// version is the one the credential names, the winner's key is the one
// stored, and nothing is left locked.
func TestRollbackRaces(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-f", "admin")
	rollback := func(id string) response { return h.do("POST", "/provider-credentials/"+id+"/rollback", admin, nil) }
	for _, tc := range []struct {
		name  string
		other func(id string) response
		ok    []int // the other request's successes
	}{
		{"a key PATCH", func(id string) response {
			return h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": "sk-racer-key-3333"})
		}, []int{200}},
		{"a DELETE", func(id string) response { return h.do("DELETE", "/provider-credentials/"+id, admin, nil) }, []int{204}},
		{"another rollback", rollback, []int{200}},
	} {
		for round := range 3 {
			id := h.create(admin, map[string]any{"provider": "openai", "account_key": fmt.Sprintf("%s-%d", tc.name, round), "api_key": "sk-old-key-1111"}).ID
			wantStatus(t, h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": testKey}), 200)
			var a, b response
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); a = rollback(id) }()
			go func() { defer wg.Done(); b = tc.other(id) }()
			wg.Wait()
			where := fmt.Sprintf("rollback vs %s, round %d: statuses %d, %d", tc.name, round, a.status, b.status)
			t.Log(where)
			if a.status != 200 && a.status != 409 && a.status != 404 {
				t.Fatalf("%s: rollback %s", where, a.body)
			}
			if !slices.Contains(tc.ok, b.status) && b.status != 409 && b.status != 404 {
				t.Fatalf("%s: other %s", where, b.body)
			}
			if err := h.consistency(); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if err := h.labelsAgree(); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if b.status == 204 {
				continue
			}
			// Exactly the winners' effects are stored (a 409 was the lock,
			// or nothing left to roll back to).
			rolled, other := a.status == 200, b.status == 200
			want := []string{testKey}
			switch {
			case tc.name == "a key PATCH" && rolled && other: // either order
				want = []string{"sk-racer-key-3333", testKey}
			case tc.name == "a key PATCH" && other:
				want = []string{"sk-racer-key-3333"}
			case tc.name == "another rollback" && rolled && other: // back and forth
				want = []string{testKey}
			case rolled || other && tc.name == "another rollback":
				want = []string{"sk-old-key-1111"}
			}
			if got := h.storedKey("org-f", id); !slices.Contains(want, got) {
				t.Fatalf("%s: the stored key is not the winner's", where)
			}
			// Not left locked: a key change goes through at once.
			wantStatus(t, h.do("PATCH", "/provider-credentials/"+id, admin, map[string]any{"api_key": "sk-after-race-4444"}), 200)
		}
	}
	h.checkConsistent()
}
