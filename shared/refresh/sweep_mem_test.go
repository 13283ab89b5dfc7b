package refresh_test

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
	"github.com/acme/provider-credentials/shared/refresh"
)

// TestSweepOverTheInMemoryStores: the sweep's decisions over stores with
// the adapters' semantics, each kind of secret once, no emulator.
func TestSweepOverTheInMemoryStores(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	at := now.Add(-2 * time.Hour)
	clock := func() time.Time { return at }
	store, keys := mem.NewStore(nil), mem.NewKeyStore(nil)
	store.Now, keys.Now = clock, clock

	secret := func(id string) string {
		t.Helper()
		name := keys.Name("org", id)
		if _, err := keys.Create(ctx, credentials.SecretRef{Name: name, OrgID: "org", CredentialID: id, Provider: "openai"}, "sk-"+id); err != nil {
			t.Fatal(err)
		}
		return name
	}
	claim := func(id, name string) credentials.Credential {
		t.Helper()
		c := credentials.Credential{ID: id, OrgID: "org", Provider: "openai", AccountKey: id, DisplayName: id, Active: true,
			HasAPIKey: true, SecretName: name, KeyVersion: "v?", CreatedAt: at, UpdatedAt: at, Revision: 1}
		if err := store.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	inUse := secret("in-use")
	claim("in-use", inUse)
	orphan := secret("orphan")
	lost := secret("lost")
	claim("lost", lost)
	deleting := secret("deleting")
	held := secret("held")
	heldCred := claim("held", held)
	foreign := secret("x/y")
	at = now.Add(-10 * time.Minute)
	young := secret("young")
	for _, name := range []string{lost, deleting, held} {
		if err := keys.ScheduleDelete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	at = now
	if _, err := store.Lock(ctx, "org", heldCred.ID, "request-in-flight", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	st, err := refresh.Sweep(ctx, keys, store, keys, refresh.SweepOptions{Now: clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	want := refresh.SweepStats{Listed: 7, Young: 1, Foreign: 1, Orphans: 1, Deleted: 1, Pending: 3, Restored: 1, RestoreHeld: 1}
	want.RestoredNames = []string{lost}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	wantDeleted := map[string]bool{inUse: false, orphan: true, lost: false, deleting: true, held: true, foreign: false, young: false}
	for _, s := range keys.Secrets() {
		if d, ok := wantDeleted[s.Name]; !ok || d != s.Deleted {
			t.Errorf("secret %s: scheduled for deletion %v, want %v", s.Name, s.Deleted, d)
		}
	}
}
