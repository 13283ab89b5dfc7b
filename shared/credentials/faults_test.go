package credentials_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
)

// TestWritesUnderInjectedFaults fails every store call of every write path
// in turn, before it applies and after (its answer lost), and checks what
// must hold whatever failed: afterwards the two stores agree (every
// credential's key readable, no live secret unclaimed, no lock left), a
// success left what it answered, a failure left the credential as it was
// (but for an unlocked patch whose answer was lost, which landed), and no
// error names the key.
func TestWritesUnderInjectedFaults(t *testing.T) {
	const newKey = "sk-injected-9876"
	type op func(w *world, seed credentials.Credential) (credentials.Credential, bool, error) // got, deleted, err
	update := func(in credentials.UpdateInput) op {
		return func(w *world, c credentials.Credential) (credentials.Credential, bool, error) {
			got, err := w.svc.Update(context.Background(), c.OrgID, c.ID, in)
			return got, false, err
		}
	}
	withKey := credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-seeded-1111")}
	keyless := credentials.CreateInput{Provider: "openai_compatible", AccountKey: "a", BaseURL: ptr("https://one.example.com/v1")}
	for _, tc := range []struct {
		name     string
		seed     credentials.CreateInput
		clear    bool // clear the seed's key first
		op       op
		unlocked bool // an unlocked write: a lost answer may have landed though it failed
	}{
		{"create with a key", withKey, false, func(w *world, _ credentials.Credential) (credentials.Credential, bool, error) {
			got, err := w.svc.Create(context.Background(), "org", credentials.CreateInput{Provider: "anthropic", AccountKey: "b", APIKey: ptr(newKey)})
			return got, false, err
		}, false},
		// Without a key there is nothing to undo, and a create whose answer
		// was lost is reported as failed though it landed (a retry is a 409).
		{"create without a key", withKey, false, func(w *world, _ credentials.Credential) (credentials.Credential, bool, error) {
			got, err := w.svc.Create(context.Background(), "org", credentials.CreateInput{Provider: "anthropic", AccountKey: "b"})
			return got, false, err
		}, true},
		{"create a duplicate", withKey, false, func(w *world, seed credentials.Credential) (credentials.Credential, bool, error) {
			_, err := w.svc.Create(context.Background(), "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr(newKey)})
			switch {
			case err == nil:
				return credentials.Credential{}, false, errNoConflict
			case credentials.IsKind(err, credentials.Conflict):
				return seed, false, nil // as it should: the seed stays as it was
			}
			return credentials.Credential{}, false, err
		}, false},
		{"patch", withKey, false, update(credentials.UpdateInput{DisplayName: ptr("Renamed"), Active: ptr(false)}), true},
		{"rotate the key", withKey, false, update(credentials.UpdateInput{APIKey: ptr(newKey)}), false},
		{"clear the key", withKey, false, update(credentials.UpdateInput{APIKey: ptr("")}), false},
		{"first key", keyless, false, update(credentials.UpdateInput{APIKey: ptr(newKey)}), false},
		{"a key again after it was cleared", withKey, true, update(credentials.UpdateInput{APIKey: ptr(newKey)}), false},
		{"change the base url", keyless, false, update(credentials.UpdateInput{BaseURL: ptr("https://two.example.com/v1")}), false},
		{"delete with a key", withKey, false, func(w *world, c credentials.Credential) (credentials.Credential, bool, error) {
			return credentials.Credential{}, true, w.svc.Delete(context.Background(), c.OrgID, c.ID)
		}, false},
		{"delete without a key", keyless, false, func(w *world, c credentials.Credential) (credentials.Credential, bool, error) {
			return credentials.Credential{}, true, w.svc.Delete(context.Background(), c.OrgID, c.ID)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []mem.Mode{mem.Before, mem.AnswerLost} {
				for n := 1; ; n++ {
					w := newWorld(t)
					seed := w.create(t, "org", tc.seed)
					if tc.clear {
						var err error
						if seed, err = w.svc.Update(context.Background(), "org", seed.ID, credentials.UpdateInput{APIKey: ptr("")}); err != nil {
							t.Fatal(err)
						}
					}
					before := w.store.All()
					w.faults.FailAt(n, mode)
					got, deleted, err := tc.op(w, seed)
					if tc.name == "create a duplicate" && !reflect.DeepEqual(before, w.store.All()) {
						t.Errorf("a duplicate create changed the credentials")
					}
					if w.faults.Injected() == 0 {
						if err != nil {
							t.Fatalf("no fault injected, yet: %v", err)
						}
						break // past the last call
					}
					ops := w.faults.String()
					w.faults.Reset()
					where := func() string { return "mode " + [...]string{"", "before", "answer lost"}[mode] + ", call " + ops }
					if d := mem.Disagreements(w.store, w.keys); d != nil {
						t.Errorf("%s: the stores disagree: %q", where(), d)
					}
					if err != nil && strings.Contains(err.Error(), newKey) {
						t.Errorf("%s: the error names the key: %v", where(), err)
					}
					after := w.store.All()
					switch {
					case err == nil && deleted:
						if _, gerr := w.store.Get(context.Background(), seed.OrgID, seed.ID); !credentials.IsKind(gerr, credentials.NotFound) {
							t.Errorf("%s: deleted, yet the credential is still there (%v)", where(), gerr)
						}
					case err == nil:
						stored, gerr := w.store.Get(context.Background(), got.OrgID, got.ID)
						if gerr != nil || !sameStored(stored, got) {
							t.Errorf("%s: answered %+v, stored %+v (%v)", where(), got, stored, gerr)
						}
					case tc.unlocked && mode == mem.AnswerLost && (strings.HasSuffix(ops, "Store.Patch]") || strings.HasSuffix(ops, "Store.Create]")):
						// The write landed; its answer was lost.
					case !reflect.DeepEqual(before, after):
						t.Errorf("%s: failed (%v), yet changed the credentials:\nbefore %+v\nafter  %+v", where(), err, before, after)
					}
					if n > 50 {
						t.Fatal("more than 50 calls for one write")
					}
				}
			}
		})
	}
}

var errNoConflict = &credentials.Error{Kind: credentials.Internal, Detail: "the duplicate was created"}
