package credentials_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
)

// keyOf reads the key c names, as the probe does (by version).
func (w *world) keyOf(t *testing.T, c credentials.Credential) string {
	t.Helper()
	k, err := w.keys.Key(context.Background(), c.SecretName, c.KeyVersion)
	if err != nil {
		t.Fatalf("read key of %s: %v", c.ID, err)
	}
	return k
}

// currentAgrees reports a credential whose key version is not its secret's
// current one.
func currentAgrees(w *world) []string {
	cur := map[string]string{}
	for _, s := range w.keys.Secrets() {
		cur[s.Name] = s.Current
	}
	var out []string
	for _, c := range w.store.All() {
		if c.HasAPIKey && cur[c.SecretName] != c.KeyVersion {
			out = append(out, c.ID+" names "+c.KeyVersion+", current is "+cur[c.SecretName])
		}
	}
	return out
}

func TestRollbackSwapsTheLastTwoKeys(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	first := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-first-1111")})
	if first.KeyUpdatedAt == nil || !first.KeyUpdatedAt.Equal(first.CreatedAt) {
		t.Fatalf("api_key_updated_at of a new key = %v, want the create time %v", first.KeyUpdatedAt, first.CreatedAt)
	}
	_, err := w.svc.Rollback(ctx, "org", first.ID)
	wantKind(t, err, credentials.Conflict, "rollback of a key never rotated")

	second, err := w.svc.Update(ctx, "org", first.ID, credentials.UpdateInput{APIKey: ptr("sk-second-2222")})
	if err != nil {
		t.Fatal(err)
	}
	if second.PrevKeyVersion != first.KeyVersion || *second.PrevAPIKeyLastFour != "1111" || !second.PrevKeyUpdatedAt.Equal(*first.KeyUpdatedAt) {
		t.Fatalf("after a rotation the previous key is %q/%v/%v, want %q/1111/%v", second.PrevKeyVersion,
			second.PrevAPIKeyLastFour, second.PrevKeyUpdatedAt, first.KeyVersion, first.KeyUpdatedAt)
	}

	back, err := w.svc.Rollback(ctx, "org", first.ID)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if back.KeyVersion != first.KeyVersion || *back.APIKeyLastFour != "1111" || w.keyOf(t, back) != "sk-first-1111" {
		t.Errorf("rolled back to %s (last four %v), want %s (1111)", back.KeyVersion, *back.APIKeyLastFour, first.KeyVersion)
	}
	if !back.UpdatedAt.After(second.UpdatedAt) || back.Revision != second.Revision+1 {
		t.Errorf("updated_at %v, revision %d; want after %v, %d", back.UpdatedAt, back.Revision, second.UpdatedAt, second.Revision+1)
	}
	if !back.KeyUpdatedAt.Equal(*first.KeyUpdatedAt) {
		t.Errorf("the restored key's api_key_updated_at = %v, want its own %v (a rollback does not reset its age)", back.KeyUpdatedAt, first.KeyUpdatedAt)
	}
	if back.ProbeFingerprint() == second.ProbeFingerprint() {
		t.Error("the probe fingerprint did not change: a cached usage result would be served")
	}
	stored, _ := w.store.Get(ctx, "org", first.ID)
	if !sameStored(stored, back) || stored.LockToken != "" {
		t.Errorf("stored %+v, answered %+v", stored, back)
	}
	if d := currentAgrees(w); d != nil {
		t.Errorf("secret labels: %q", d)
	}

	forward, err := w.svc.Rollback(ctx, "org", first.ID)
	if err != nil {
		t.Fatalf("second rollback: %v", err)
	}
	if forward.KeyVersion != second.KeyVersion || w.keyOf(t, forward) != "sk-second-2222" || !forward.KeyUpdatedAt.Equal(*second.KeyUpdatedAt) {
		t.Errorf("a second rollback gave %s, want the rolled-back %s again", forward.KeyVersion, second.KeyVersion)
	}
	if d := currentAgrees(w); d != nil {
		t.Errorf("secret labels: %q", d)
	}
}

func TestRollbackHasNothingAfterAClearOrAFirstKey(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-first-1111")})
	if _, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-second-2222")}); err != nil {
		t.Fatal(err)
	}
	cleared, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("")})
	if err != nil {
		t.Fatal(err)
	}
	if cleared.KeyUpdatedAt != nil || cleared.PrevKeyVersion != "" || cleared.PrevAPIKeyLastFour != nil {
		t.Errorf("a cleared key keeps history: %+v", cleared)
	}
	_, err = w.svc.Rollback(ctx, "org", c.ID)
	wantKind(t, err, credentials.Conflict, "rollback after a clear")
	var e *credentials.Error
	if !errorsAs(err, &e) || !strings.Contains(e.Detail.(string), "no previous key") {
		t.Errorf("detail = %v, want it to say there is no previous key", err)
	}
	again, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-third-3333")})
	if err != nil {
		t.Fatal(err)
	}
	if again.PrevKeyVersion != "" {
		t.Errorf("a key set after a clear has a previous key %q", again.PrevKeyVersion)
	}
	_, err = w.svc.Rollback(ctx, "org", c.ID)
	wantKind(t, err, credentials.Conflict, "rollback of a key set after a clear")

	keyless := w.create(t, "org", credentials.CreateInput{Provider: "anthropic", AccountKey: "b"})
	_, err = w.svc.Rollback(ctx, "org", keyless.ID)
	wantKind(t, err, credentials.Conflict, "rollback without a key")
	_, err = w.svc.Rollback(ctx, "org", credentials.NewID())
	wantKind(t, err, credentials.NotFound, "rollback of a missing credential")
	_, err = w.svc.Rollback(ctx, "other-org", c.ID)
	wantKind(t, err, credentials.NotFound, "rollback of another org's credential")
	if d := mem.Disagreements(w.store, w.keys); d != nil {
		t.Errorf("the stores disagree: %q", d)
	}
}

func TestRollbackWaitsForTheLock(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-first-1111")})
	c, _ = w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-second-2222")})
	if _, err := w.store.Lock(ctx, "org", c.ID, "someone-else", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := w.svc.Rollback(ctx, "org", c.ID)
	wantKind(t, err, credentials.Conflict, "rollback while another request holds the lock")
	stored, _ := w.store.Get(ctx, "org", c.ID)
	if stored.KeyVersion != c.KeyVersion {
		t.Errorf("a refused rollback changed the key version to %s", stored.KeyVersion)
	}
}

// TestRollbackUnderInjectedFaults fails every store call of a rollback in
// turn, before it applies and after (its answer lost): afterwards the
// stores agree (and the secret's current version is the one the credential
// names), no lock is left, a success left what it answered and a failure
// left the credential as it was.
func TestRollbackUnderInjectedFaults(t *testing.T) {
	for _, twice := range []bool{false, true} {
		for _, mode := range []mem.Mode{mem.Before, mem.AnswerLost} {
			for n := 1; ; n++ {
				w := newWorld(t)
				ctx := context.Background()
				c := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-first-1111")})
				c, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-second-2222")})
				if err != nil {
					t.Fatal(err)
				}
				if twice {
					if c, err = w.svc.Rollback(ctx, "org", c.ID); err != nil {
						t.Fatal(err)
					}
				}
				before := w.store.All()
				w.faults.FailAt(n, mode)
				got, err := w.svc.Rollback(ctx, "org", c.ID)
				if w.faults.Injected() == 0 {
					if err != nil {
						t.Fatalf("no fault injected, yet: %v", err)
					}
					break
				}
				ops := w.faults.String()
				w.faults.Reset()
				where := func() string {
					return map[bool]string{false: "once", true: "twice"}[twice] + ", mode " + [...]string{"", "before", "answer lost"}[mode] + ", call " + ops
				}
				if d := mem.Disagreements(w.store, w.keys); d != nil {
					t.Errorf("%s: the stores disagree: %q", where(), d)
				}
				if d := currentAgrees(w); d != nil {
					t.Errorf("%s: secret labels: %q", where(), d)
				}
				if err == nil {
					stored, gerr := w.store.Get(ctx, got.OrgID, got.ID)
					if gerr != nil || !sameStored(stored, got) || stored.KeyVersion != c.PrevKeyVersion {
						t.Errorf("%s: answered %+v, stored %+v (%v)", where(), got, stored, gerr)
					}
				} else if after := w.store.All(); !reflect.DeepEqual(before, after) {
					t.Errorf("%s: failed (%v), yet changed the credentials:\nbefore %+v\nafter  %+v", where(), err, before, after)
				}
				if n > 50 {
					t.Fatal("more than 50 calls for one rollback")
				}
			}
		}
	}
}

func TestKeyStale(t *testing.T) {
	set := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	withKey := credentials.Credential{HasAPIKey: true, KeyUpdatedAt: &set}
	for _, tc := range []struct {
		name   string
		c      credentials.Credential
		now    time.Time
		maxAge time.Duration
		want   bool
	}{
		{"older than the limit", withKey, set.Add(91 * day), 90 * day, true},
		{"exactly at the limit", withKey, set.Add(90 * day), 90 * day, false},
		{"younger", withKey, set.Add(10 * day), 90 * day, false},
		{"check off", withKey, set.Add(1000 * day), 0, false},
		{"age unknown", credentials.Credential{HasAPIKey: true}, set.Add(1000 * day), 90 * day, false},
		{"no key", credentials.Credential{KeyUpdatedAt: &set}, set.Add(1000 * day), 90 * day, false},
	} {
		if got := tc.c.KeyStale(tc.now, tc.maxAge); got != tc.want {
			t.Errorf("%s: KeyStale = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAPIKeyUpdatedAtOnTheWire(t *testing.T) {
	at := time.Date(2026, 5, 20, 22, 3, 57, 123456000, time.UTC)
	for _, tc := range []struct {
		c    credentials.Credential
		want any
	}{
		{credentials.Credential{}, nil},
		{credentials.Credential{HasAPIKey: true, KeyUpdatedAt: &at}, "2026-05-20T22:03:57.123456Z"},
	} {
		b, err := json.Marshal(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		v, ok := m["api_key_updated_at"]
		if !ok || v != tc.want {
			t.Errorf("api_key_updated_at = %v (present %v), want %v", v, ok, tc.want)
		}
		for _, hidden := range []string{"prev_key_version", "PrevKeyVersion", "key_version"} {
			if _, ok := m[hidden]; ok {
				t.Errorf("the view shows %s", hidden)
			}
		}
	}
}

// A rotation whose PutSecretValue landed though its answer was lost leaves
// AWSCURRENT on a version no credential names; a later rollback still
// restores the credential's previous key (the label moves from whichever
// version holds it), and a second one swaps forward again.
func TestRollbackAfterALostKeyWriteAnswer(t *testing.T) {
	testRollbackAfterAFailedRotation(t, "KeyStore.Put", mem.AnswerLost)
}

// A rotation whose metadata write failed is compensated (AWSCURRENT moves
// back); the previous key recorded before it is still there to roll back to.
func TestRollbackAfterACompensatedRotation(t *testing.T) {
	testRollbackAfterAFailedRotation(t, "Store.Replace", mem.Before)
}

func testRollbackAfterAFailedRotation(t *testing.T, failOp string, mode mem.Mode) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-first-1111")})
	c, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-second-2222")})
	if err != nil {
		t.Fatal(err)
	}
	w.faults.Hook = func(op string) mem.Mode {
		if op == failOp {
			return mode
		}
		return mem.Pass
	}
	if _, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-third-3333")}); err == nil {
		t.Fatalf("a rotation whose %s failed: want an error", failOp)
	}
	w.faults.Hook = nil
	stored, err := w.store.Get(ctx, "org", c.ID)
	if err != nil || stored.KeyVersion != c.KeyVersion {
		t.Fatalf("after the failed rotation the credential names %q (%v), want %q", stored.KeyVersion, err, c.KeyVersion)
	}
	back, err := w.svc.Rollback(ctx, "org", c.ID)
	if err != nil {
		t.Fatalf("rollback after a rotation whose %s failed: %v", failOp, err)
	}
	if back.KeyVersion != c.PrevKeyVersion || *back.APIKeyLastFour != "1111" {
		t.Fatalf("rolled back to %q (last four %v), want %q (1111)", back.KeyVersion, *back.APIKeyLastFour, c.PrevKeyVersion)
	}
	if d := currentAgrees(w); d != nil {
		t.Fatalf("secret labels after the rollback: %q", d)
	}
	if key, err := w.keys.Key(ctx, back.SecretName, back.KeyVersion); err != nil || key != "sk-first-1111" {
		t.Fatalf("the restored key reads %q, %v", key, err)
	}
	fwd, err := w.svc.Rollback(ctx, "org", c.ID)
	if err != nil || fwd.KeyVersion != c.KeyVersion || *fwd.APIKeyLastFour != "2222" {
		t.Fatalf("second rollback = %+v, %v; want the second key again", fwd, err)
	}
	if d := currentAgrees(w); d != nil {
		t.Fatalf("secret labels after the second rollback: %q", d)
	}
}
