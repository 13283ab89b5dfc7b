package credentials_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
)

// The credential service's rules (SPEC.md), over the in-memory stores: no
// emulator, so they run everywhere and fast.

// clock is a fake time that moves on a millisecond at each reading, so
// each write's update time is later than the one before.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

type world struct {
	faults *mem.Faults
	store  *mem.Store
	keys   *mem.KeyStore
	svc    *credentials.Service
	clock  *clock
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{faults: &mem.Faults{}, clock: &clock{t: time.Date(2026, 5, 20, 22, 3, 57, 0, time.UTC)}}
	w.store, w.keys = mem.NewStore(w.faults), mem.NewKeyStore(w.faults)
	w.store.Now, w.keys.Now = w.clock.Now, w.clock.Now
	w.svc = credentials.NewService(w.store, credentials.Options{
		Keys: w.keys, Now: w.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BaseURLCheck: func(_, raw string) error {
			if !strings.HasPrefix(raw, "https://") {
				return fmt.Errorf("Input should be a valid URL")
			}
			return nil
		},
	})
	return w
}

func ptr[T any](v T) *T { return &v }

func (w *world) create(t *testing.T, org string, in credentials.CreateInput) credentials.Credential {
	t.Helper()
	c, err := w.svc.Create(context.Background(), org, in)
	if err != nil {
		t.Fatalf("create %s/%s: %v", in.Provider, in.AccountKey, err)
	}
	return c
}

func (w *world) agree(t *testing.T) {
	t.Helper()
	if d := mem.Disagreements(w.store, w.keys); d != nil {
		t.Errorf("the stores disagree: %q (calls %v)", d, w.faults)
	}
}

func wantKind(t *testing.T, err error, k credentials.Kind, what string) {
	t.Helper()
	if credentials.KindOf(err) != k || err == nil {
		t.Fatalf("%s: err = %v (kind %d), want kind %d", what, err, credentials.KindOf(err), k)
	}
}

func TestListIsTheOrgsOwnSortedByProviderThenAccountKey(t *testing.T) {
	w := newWorld(t)
	for _, pa := range [][2]string{{"openai", "b"}, {"anthropic", "z"}, {"openai", "a"}, {"groq", "m"}, {"anthropic", "c"}} {
		w.create(t, "org-a", credentials.CreateInput{Provider: pa[0], AccountKey: pa[1]})
	}
	w.create(t, "org-b", credentials.CreateInput{Provider: "anthropic", AccountKey: "a"})
	list, err := w.svc.List(context.Background(), "org-a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		if c.OrgID != "org-a" {
			t.Errorf("org-a's list holds %s of %s", c.ID, c.OrgID)
		}
		got = append(got, c.Provider+"/"+c.AccountKey)
	}
	want := []string{"anthropic/c", "anthropic/z", "groq/m", "openai/a", "openai/b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("list = %v, want %v", got, want)
	}
	if list, err := w.svc.List(context.Background(), "org-c"); err != nil || len(list) != 0 {
		t.Fatalf("an org with none: %v, %v; want nothing", list, err)
	}
}

func TestCreateDefaultsAndLastFour(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		in         credentials.CreateInput
		display    string
		active     bool
		hasKey     bool
		lastFour   *string
		base       *string
		storedKeys int
	}{
		{"defaults", credentials.CreateInput{Provider: "openai", AccountKey: "a1"}, "a1", true, false, nil, nil, 0},
		{"empty display name", credentials.CreateInput{Provider: "openai", AccountKey: "a2", DisplayName: ptr("")}, "a2", true, false, nil, nil, 0},
		{"display name and inactive", credentials.CreateInput{Provider: "openai", AccountKey: "a3", DisplayName: ptr("Prod"), Active: ptr(false)}, "Prod", false, false, nil, nil, 0},
		{"empty key and base url are none", credentials.CreateInput{Provider: "openai", AccountKey: "a4", APIKey: ptr(""), BaseURL: ptr("")}, "a4", true, false, nil, nil, 0},
		{"key", credentials.CreateInput{Provider: "openai", AccountKey: "a5", APIKey: ptr("sk-secret-wxyz")}, "a5", true, true, ptr("wxyz"), nil, 1},
		{"pasted key is trimmed", credentials.CreateInput{Provider: "openai", AccountKey: "a6", APIKey: ptr("  sk-secret-abcd\n")}, "a6", true, true, ptr("abcd"), nil, 2},
		{"short key has no last four", credentials.CreateInput{Provider: "openai", AccountKey: "a7", APIKey: ptr("abc")}, "a7", true, true, nil, nil, 3},
		{"base url", credentials.CreateInput{Provider: "openai_compatible", AccountKey: "a8", BaseURL: ptr("https://llm.example.com/v1")}, "a8", true, false, nil, ptr("https://llm.example.com/v1"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := w.create(t, "org", tc.in)
			if c.DisplayName != tc.display || c.Active != tc.active || c.HasAPIKey != tc.hasKey {
				t.Errorf("display %q active %v has key %v; want %q %v %v", c.DisplayName, c.Active, c.HasAPIKey, tc.display, tc.active, tc.hasKey)
			}
			if !reflect.DeepEqual(c.APIKeyLastFour, tc.lastFour) || !reflect.DeepEqual(c.BaseURL, tc.base) {
				t.Errorf("last four %v base %v; want %v %v", c.APIKeyLastFour, c.BaseURL, tc.lastFour, tc.base)
			}
			if _, ok := credentials.ParseID(c.ID); !ok || c.OrgID != "org" || c.Revision != 1 || !c.CreatedAt.Equal(c.UpdatedAt) {
				t.Errorf("id %q org %q revision %d created %v updated %v", c.ID, c.OrgID, c.Revision, c.CreatedAt, c.UpdatedAt)
			}
			got, err := w.svc.Get(ctx, "org", c.ID)
			if err != nil || !sameStored(got, c) {
				t.Errorf("stored %+v, %v; want %+v", got, err, c)
			}
			if n := len(w.keys.Secrets()); n != tc.storedKeys {
				t.Errorf("%d secrets stored, want %d", n, tc.storedKeys)
			}
			if tc.in.APIKey != nil && *tc.in.APIKey != "" {
				key, err := w.keys.Key(ctx, c.SecretName, c.KeyVersion)
				if err != nil || key != strings.TrimSpace(*tc.in.APIKey) {
					t.Errorf("key store holds %v for it (%v)", key != "", err)
				}
				b, _ := json.Marshal(c)
				if strings.Contains(string(b), strings.TrimSpace(*tc.in.APIKey)) || strings.Contains(string(b), c.SecretName) {
					t.Errorf("the response names the key or its secret: %s", b)
				}
			}
			w.agree(t)
		})
	}
}

// sameStored compares what a store keeps of two credentials.
func sameStored(a, b credentials.Credential) bool {
	a.LockToken, b.LockToken = "", ""
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && a.SecretName == b.SecretName && a.KeyVersion == b.KeyVersion && a.Revision == b.Revision
}

func TestCreateRefusesBadInput(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	_, err := w.svc.Create(ctx, "org", credentials.CreateInput{Provider: "acme", AccountKey: "a"})
	wantKind(t, err, credentials.Invalid, "unsupported provider")
	const msg = "Unsupported provider 'acme'. Supported: ['anthropic', 'azure_openai', 'cohere', 'deepseek', 'fireworks', " +
		"'gemini', 'groq', 'mistral', 'openai', 'openai_compatible', 'openrouter', 'together', 'xai']"
	var e *credentials.Error
	if !errorsAs(err, &e) || e.Detail != msg {
		t.Fatalf("detail = %#v, want %q", e, msg)
	}
	for name, in := range map[string]credentials.CreateInput{
		"base url required":     {Provider: "openai_compatible", AccountKey: "a"},
		"base url malformed":    {Provider: "openai", AccountKey: "a", BaseURL: ptr("ftp://x")},
		"blank key":             {Provider: "openai", AccountKey: "a", APIKey: ptr("   ")},
		"control characters":    {Provider: "openai", AccountKey: "a", APIKey: ptr("sk-\x00-key")},
		"account key too long":  {Provider: "openai", AccountKey: strings.Repeat("a", credentials.MaxAccountKey+1)},
		"display name too long": {Provider: "openai", AccountKey: "a", DisplayName: ptr(strings.Repeat("d", credentials.MaxDisplayName+1))},
	} {
		_, err := w.svc.Create(ctx, "org", in)
		wantKind(t, err, credentials.Invalid, name)
		if _, ok := err.(*credentials.Error).Detail.([]credentials.FieldError); !ok {
			t.Errorf("%s: detail %#v is not a field error list", name, err.(*credentials.Error).Detail)
		}
	}
	if len(w.store.All()) != 0 || len(w.keys.Secrets()) != 0 {
		t.Fatalf("refused creates wrote %d credentials, %d secrets", len(w.store.All()), len(w.keys.Secrets()))
	}
}

func errorsAs(err error, e **credentials.Error) bool {
	x, ok := err.(*credentials.Error)
	*e = x
	return ok
}

func TestCreateDuplicateIsAConflictPerOrg(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	first := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "default", APIKey: ptr("sk-first-1111")})
	_, err := w.svc.Create(ctx, "org", credentials.CreateInput{Provider: "openai", AccountKey: "default", APIKey: ptr("sk-second-2222")})
	wantKind(t, err, credentials.Conflict, "duplicate")
	if want := "A 'openai' credential with account key 'default' already exists."; err.(*credentials.Error).Detail != want {
		t.Fatalf("detail = %v, want %q", err.(*credentials.Error).Detail, want)
	}
	w.agree(t) // the duplicate's secret is gone
	w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "other"})
	w.create(t, "org", credentials.CreateInput{Provider: "anthropic", AccountKey: "default"})
	w.create(t, "org-b", credentials.CreateInput{Provider: "openai", AccountKey: "default"})
	if got, _ := w.svc.Get(ctx, "org", first.ID); !sameStored(got, first) {
		t.Fatalf("the first credential changed: %+v", got)
	}
	// Deleting frees the provider and account key.
	if err := w.svc.Delete(ctx, "org", first.ID); err != nil {
		t.Fatal(err)
	}
	w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "default"})
	w.agree(t)
}

func TestUpdateSemantics(t *testing.T) {
	ctx := context.Background()
	type step struct {
		in     credentials.UpdateInput
		check  func(t *testing.T, before, after credentials.Credential)
		secret string // the key store's state of the credential's secret afterwards: live, deleted, none
	}
	same := func(t *testing.T, field string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s = %v, want %v", field, b, a)
		}
	}
	for _, tc := range []struct {
		name   string
		create credentials.CreateInput
		steps  []step
	}{
		{"display name and active only", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-key-1234")}, []step{{
			in: credentials.UpdateInput{DisplayName: ptr("New"), Active: ptr(false)},
			check: func(t *testing.T, b, a credentials.Credential) {
				same(t, "display name", "New", a.DisplayName)
				same(t, "active", false, a.Active)
				same(t, "key version", b.KeyVersion, a.KeyVersion)
				same(t, "last four", b.APIKeyLastFour, a.APIKeyLastFour)
			}, secret: "live",
		}}},
		{"nothing given changes nothing but the update time", credentials.CreateInput{Provider: "openai", AccountKey: "a", DisplayName: ptr("D")}, []step{{
			in: credentials.UpdateInput{},
			check: func(t *testing.T, b, a credentials.Credential) {
				same(t, "display name", "D", a.DisplayName)
				same(t, "active", true, a.Active)
			}, secret: "none",
		}}},
		{"rotate the key", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-old-1111")}, []step{{
			in: credentials.UpdateInput{APIKey: ptr("sk-new-2222")},
			check: func(t *testing.T, b, a credentials.Credential) {
				same(t, "last four", ptr("2222"), a.APIKeyLastFour)
				same(t, "secret", b.SecretName, a.SecretName)
				if a.KeyVersion == b.KeyVersion || a.ProbeFingerprint() == b.ProbeFingerprint() {
					t.Errorf("key version %s → %s: a rotation makes a new version", b.KeyVersion, a.KeyVersion)
				}
			}, secret: "live",
		}}},
		{`"api_key": "" clears the key, a new one gets a secret of its own`, credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-old-1111")}, []step{{
			in: credentials.UpdateInput{APIKey: ptr("")},
			check: func(t *testing.T, b, a credentials.Credential) {
				same(t, "has key", false, a.HasAPIKey)
				same(t, "last four", (*string)(nil), a.APIKeyLastFour)
			}, secret: "deleted",
		}, {
			in: credentials.UpdateInput{APIKey: ptr("sk-again-3333")},
			check: func(t *testing.T, b, a credentials.Credential) {
				same(t, "has key", true, a.HasAPIKey)
				same(t, "last four", ptr("3333"), a.APIKeyLastFour)
			}, secret: "live",
		}}},
		{`"api_key": "" on a keyless credential`, credentials.CreateInput{Provider: "openai", AccountKey: "a"}, []step{{
			in:     credentials.UpdateInput{APIKey: ptr("")},
			check:  func(t *testing.T, b, a credentials.Credential) { same(t, "has key", false, a.HasAPIKey) },
			secret: "none",
		}}},
		{"first key", credentials.CreateInput{Provider: "openai", AccountKey: "a"}, []step{{
			in: credentials.UpdateInput{APIKey: ptr("sk-first-4444")},
			check: func(t *testing.T, b, a credentials.Credential) {
				same(t, "has key", true, a.HasAPIKey)
				same(t, "last four", ptr("4444"), a.APIKeyLastFour)
			}, secret: "live",
		}}},
		{`base url set, then "" clears it, even where required`, credentials.CreateInput{Provider: "openai_compatible", AccountKey: "a", BaseURL: ptr("https://one.example.com/v1")}, []step{{
			in: credentials.UpdateInput{BaseURL: ptr("https://two.example.com/v1")},
			check: func(t *testing.T, b, a credentials.Credential) {
				same(t, "base url", ptr("https://two.example.com/v1"), a.BaseURL)
				if a.ProbeFingerprint() == b.ProbeFingerprint() {
					t.Error("a new base URL keeps the probe fingerprint")
				}
			}, secret: "none",
		}, {
			in:     credentials.UpdateInput{BaseURL: ptr("")},
			check:  func(t *testing.T, b, a credentials.Credential) { same(t, "base url", (*string)(nil), a.BaseURL) },
			secret: "none",
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			c := w.create(t, "org", tc.create)
			secretName := w.keys.Name("org", c.ID)
			for i, s := range tc.steps {
				got, err := w.svc.Update(ctx, "org", c.ID, s.in)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if !got.UpdatedAt.After(c.UpdatedAt) || got.Revision <= c.Revision || !got.CreatedAt.Equal(c.CreatedAt) {
					t.Errorf("step %d: updated %v → %v, revision %d → %d, created %v → %v", i, c.UpdatedAt, got.UpdatedAt, c.Revision, got.Revision, c.CreatedAt, got.CreatedAt)
				}
				if got.Provider != c.Provider || got.AccountKey != c.AccountKey || got.ID != c.ID {
					t.Errorf("step %d: provider, account key or id changed: %+v", i, got)
				}
				s.check(t, c, got)
				if stored, err := w.svc.Get(ctx, "org", c.ID); err != nil || !sameStored(stored, got) {
					t.Errorf("step %d: stored %+v (%v), answered %+v", i, stored, err, got)
				}
				stateOf := func(name string) string {
					for _, sec := range w.keys.Secrets() {
						if sec.Name == name {
							return map[bool]string{false: "live", true: "deleted"}[sec.Deleted]
						}
					}
					return "none"
				}
				if got.HasAPIKey && got.SecretName != secretName {
					// A key set again after a clear, or a first key: a
					// secret of its own; the one before stays deleted.
					if old := stateOf(secretName); old == "live" {
						t.Errorf("step %d: the secret before, %s, is live again", i, secretName)
					}
					secretName = got.SecretName
				}
				if state := stateOf(secretName); state != s.secret {
					t.Errorf("step %d: secret %s, want %s", i, state, s.secret)
				}
				w.agree(t)
				c = got
			}
		})
	}
}

func TestUpdateRefusesBadInput(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-key-1234")})
	for name, in := range map[string]credentials.UpdateInput{
		"display name too long": {DisplayName: ptr(strings.Repeat("d", credentials.MaxDisplayName+1))},
		"blank key":             {APIKey: ptr(" \t")},
		"malformed base url":    {BaseURL: ptr("not a url")},
	} {
		_, err := w.svc.Update(ctx, "org", c.ID, in)
		wantKind(t, err, credentials.Invalid, name)
	}
	if got, _ := w.svc.Get(ctx, "org", c.ID); !sameStored(got, c) {
		t.Fatalf("refused updates changed the credential: %+v", got)
	}
	w.agree(t)
}

func TestAnotherOrgsCredentialIsNotFound(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.create(t, "org-a", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-key-1234")})
	missing := credentials.NewID()
	for _, id := range []string{c.ID, missing} {
		_, err := w.svc.Get(ctx, "org-b", id)
		wantKind(t, err, credentials.NotFound, "get")
		_, err = w.svc.Update(ctx, "org-b", id, credentials.UpdateInput{DisplayName: ptr("x")})
		wantKind(t, err, credentials.NotFound, "patch")
		_, err = w.svc.Update(ctx, "org-b", id, credentials.UpdateInput{APIKey: ptr("sk-other-9999")})
		wantKind(t, err, credentials.NotFound, "key change")
		wantKind(t, w.svc.Delete(ctx, "org-b", id), credentials.NotFound, "delete")
	}
	if got, err := w.svc.Get(ctx, "org-a", c.ID); err != nil || !sameStored(got, c) {
		t.Fatalf("org-a's credential after org-b's attempts: %+v, %v", got, err)
	}
	w.agree(t)
}

func TestDeleteRemovesTheCredentialAndSchedulesItsKeysDeletion(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	withKey := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-key-1234")})
	keyless := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "b"})
	for _, c := range []credentials.Credential{withKey, keyless} {
		if err := w.svc.Delete(ctx, "org", c.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err := w.svc.Get(ctx, "org", c.ID)
		wantKind(t, err, credentials.NotFound, "get after delete")
		wantKind(t, w.svc.Delete(ctx, "org", c.ID), credentials.NotFound, "second delete")
	}
	if s := w.keys.Secrets(); len(s) != 1 || !s[0].Deleted {
		t.Fatalf("secrets after the deletes: %+v, want the one scheduled for deletion", s)
	}
	if w.store.Guards() != 0 {
		t.Fatalf("%d uniqueness guards left", w.store.Guards())
	}
	w.agree(t)
}

func TestALockedCredentialIsAConflict(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-key-1234")})
	// Another request holds the credential (its lock is live).
	if _, err := w.store.Lock(ctx, "org", c.ID, "other-request", w.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-new-5555")})
	wantKind(t, err, credentials.Conflict, "key change while locked")
	_, err = w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{DisplayName: ptr("x")})
	wantKind(t, err, credentials.Conflict, "patch while locked")
	wantKind(t, w.svc.Delete(ctx, "org", c.ID), credentials.Conflict, "delete while locked")
	// Once the lock expires, the credential is free again.
	w.clock.t = w.clock.t.Add(2 * time.Minute)
	if _, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-new-5555")}); err != nil {
		t.Fatalf("after the lock expired: %v", err)
	}
	w.agree(t)
}

// A key write starts only with time enough left before the request's
// deadline to finish and, on a failure, still clean up (settle, undo,
// unlock): a request that spent its time first (a ?verify=true probe)
// answers 503 and writes nothing, rather than be killed mid-cleanup.
func TestKeyWritesKeepTimeToCleanUp(t *testing.T) {
	w := newWorld(t)
	c := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-first-1111")})
	before := w.store.All()
	near, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, write := range map[string]func(context.Context) error{
		"create": func(ctx context.Context) error {
			_, err := w.svc.Create(ctx, "org", credentials.CreateInput{Provider: "openai", AccountKey: "b", APIKey: ptr("sk-second-2222")})
			return err
		},
		"rotate": func(ctx context.Context) error {
			_, err := w.svc.Update(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-second-2222")})
			return err
		},
		"delete":   func(ctx context.Context) error { return w.svc.Delete(ctx, "org", c.ID) },
		"rollback": func(ctx context.Context) error { _, err := w.svc.Rollback(ctx, "org", c.ID); return err },
	} {
		w.faults.Reset()
		if err := write(near); credentials.KindOf(err) != credentials.Unavailable {
			t.Errorf("%s with 10 s left: err = %v, want kind Unavailable", name, err)
		}
		if ops := w.faults.Ops(); len(ops) != 0 {
			t.Errorf("%s with 10 s left made calls %v, want none", name, ops)
		}
	}
	if after := w.store.All(); !reflect.DeepEqual(before, after) {
		t.Fatalf("writes without time to clean up changed the store:\nbefore %+v\nafter  %+v", before, after)
	}
	enough, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	if _, err := w.svc.Update(enough, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-second-2222")}); err != nil {
		t.Fatalf("rotate with 20 s left: %v", err)
	}
}
