package credentials_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
)

// verifier is a fake Verifier: it accepts the keys in good and records
// what it probed and what it was asked to remember.
type verifier struct {
	good       map[string]bool
	probed     []credentials.VerifyTarget
	remembered []credentials.Credential
}

func (v *verifier) Verify(_ context.Context, t credentials.VerifyTarget) credentials.Verdict {
	v.probed = append(v.probed, t)
	if v.good[t.APIKey] {
		return credentials.Verdict{OK: true, Result: []byte(`{"reachable":true}`), CheckedAt: time.Now()}
	}
	return credentials.Verdict{Code: "invalid_key", Message: "authentication failed (HTTP 401): Incorrect API key provided: sk-bad-****2222."}
}

func (v *verifier) Remember(_ context.Context, c credentials.Credential, _ credentials.Verdict) error {
	v.remembered = append(v.remembered, c)
	return nil
}

func verifyingWorld(t *testing.T) (*world, *verifier) {
	t.Helper()
	w := newWorld(t)
	v := &verifier{good: map[string]bool{"sk-good-key-1111": true, "sk-good-key-3333": true}}
	w.svc = credentials.NewService(w.store, credentials.Options{
		Keys: w.keys, Now: w.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Verifier: v,
		BaseURLCheck: func(_, raw string) error { return nil },
	})
	return w, v
}

func TestVerifiedCreate(t *testing.T) {
	w, v := verifyingWorld(t)
	ctx := context.Background()
	c, err := w.svc.CreateVerified(ctx, "org", credentials.CreateInput{Provider: "openai_compatible", AccountKey: "a",
		APIKey: ptr("sk-good-key-1111"), BaseURL: ptr("https://llm.example.com/v1")})
	if err != nil {
		t.Fatalf("verified create: %v", err)
	}
	if len(v.probed) != 1 || v.probed[0].BaseURL != "https://llm.example.com/v1" || v.probed[0].Provider != "openai_compatible" {
		t.Errorf("probed %+v, want the new key at the new base URL", v.probed)
	}
	if len(v.remembered) != 1 || v.remembered[0].ProbeFingerprint() != c.ProbeFingerprint() {
		t.Errorf("remembered %+v, want the created credential (its fingerprint)", v.remembered)
	}

	before, secrets := w.store.All(), w.keys.Secrets()
	_, err = w.svc.CreateVerified(ctx, "org", credentials.CreateInput{Provider: "openai", AccountKey: "b", APIKey: ptr("sk-bad-key-2222")})
	wantVerifyFailure(t, err, "sk-bad-key-2222")
	if !reflect.DeepEqual(before, w.store.All()) || !reflect.DeepEqual(secrets, w.keys.Secrets()) {
		t.Error("a rejected key changed the stores")
	}
	_, err = w.svc.CreateVerified(ctx, "org", credentials.CreateInput{Provider: "openai", AccountKey: "c"})
	wantKind(t, err, credentials.Invalid, "verify without a key")
	_, err = w.svc.CreateVerified(ctx, "org", credentials.CreateInput{Provider: "acme", AccountKey: "d", APIKey: ptr("sk-good-key-1111")})
	wantKind(t, err, credentials.Invalid, "verify of an unsupported provider")
	_, err = w.svc.CreateVerified(ctx, "org", credentials.CreateInput{Provider: "openai", AccountKey: "e", DisplayName: ptr(strings.Repeat("x", 201)), APIKey: ptr("sk-good-key-1111")})
	wantKind(t, err, credentials.Invalid, "verify with a display name too long")
	if len(v.probed) != 2 {
		t.Errorf("%d probes, want 2: input errors are found before probing", len(v.probed))
	}
}

func TestVerifiedUpdate(t *testing.T) {
	w, v := verifyingWorld(t)
	ctx := context.Background()
	c := w.create(t, "org", credentials.CreateInput{Provider: "openai_compatible", AccountKey: "a",
		APIKey: ptr("sk-first-key-0000"), BaseURL: ptr("https://one.example.com/v1")})

	before, secrets := w.store.All(), w.keys.Secrets()
	_, err := w.svc.UpdateVerified(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-bad-key-2222"), DisplayName: ptr("x")})
	wantVerifyFailure(t, err, "sk-bad-key-2222")
	if !reflect.DeepEqual(before, w.store.All()) || !reflect.DeepEqual(secrets, w.keys.Secrets()) {
		t.Error("a rejected key changed the stores")
	}
	if got := v.probed[0]; got.BaseURL != "https://one.example.com/v1" || got.Provider != "openai_compatible" {
		t.Errorf("probed %+v, want the stored base URL and provider", got)
	}

	up, err := w.svc.UpdateVerified(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-good-key-3333"), BaseURL: ptr("https://two.example.com/v1")})
	if err != nil {
		t.Fatalf("verified update: %v", err)
	}
	if got := v.probed[1]; got.BaseURL != "https://two.example.com/v1" {
		t.Errorf("probed at %q, want the new base URL", got.BaseURL)
	}
	if len(v.remembered) != 1 || v.remembered[0].ProbeFingerprint() != up.ProbeFingerprint() || up.ProbeFingerprint() == c.ProbeFingerprint() {
		t.Errorf("remembered %+v, want the updated credential's new fingerprint", v.remembered)
	}
	if k := w.keyOf(t, up); k != "sk-good-key-3333" {
		t.Error("the verified key is not the one stored")
	}
	for _, in := range []credentials.UpdateInput{{DisplayName: ptr("n")}, {BaseURL: ptr("https://three.example.com/v1")}, {APIKey: ptr("")}} {
		_, err := w.svc.UpdateVerified(ctx, "org", c.ID, in)
		wantKind(t, err, credentials.Invalid, "verify without a key")
	}
	probes := len(v.probed)
	_, err = w.svc.UpdateVerified(ctx, "org", c.ID, credentials.UpdateInput{APIKey: ptr("sk-good-key-1111"), DisplayName: ptr(strings.Repeat("x", 201))})
	wantKind(t, err, credentials.Invalid, "verify with a display name too long")
	if len(v.probed) != probes {
		t.Error("a bad display name was probed before it was refused")
	}
	_, err = w.svc.UpdateVerified(ctx, "org", credentials.NewID(), credentials.UpdateInput{APIKey: ptr("sk-good-key-1111")})
	wantKind(t, err, credentials.NotFound, "verify on a missing credential")
	if d := mem.Disagreements(w.store, w.keys); d != nil {
		t.Errorf("the stores disagree: %q", d)
	}
}

// wantVerifyFailure checks a failed verification's 422: one entry with the
// probe's code and error, and no trace of the key.
func wantVerifyFailure(t *testing.T, err error, key string) {
	t.Helper()
	wantKind(t, err, credentials.Invalid, "a rejected key")
	var e *credentials.Error
	if !errorsAs(err, &e) {
		t.Fatalf("err = %v, want a *credentials.Error", err)
	}
	list, ok := e.Detail.([]credentials.VerifyError)
	if !ok || len(list) != 1 || list[0].ErrorCode != "invalid_key" || !strings.HasPrefix(list[0].Error, "authentication failed") ||
		list[0].Type != "key_verification_failed" {
		t.Fatalf("detail = %#v", e.Detail)
	}
	b, _ := json.Marshal(e.Detail)
	if strings.Contains(string(b), key) || strings.Contains(err.Error(), key) {
		t.Errorf("the 422 names the key: %s", b)
	}
}

// TestVerifiedWritesUnderInjectedFaults fails every store call of a
// verified create and update in turn: the verification changes nothing on
// its own, so what holds for the plain writes holds here too.
func TestVerifiedWritesUnderInjectedFaults(t *testing.T) {
	for _, name := range []string{"create", "update"} {
		for _, mode := range []mem.Mode{mem.Before, mem.AnswerLost} {
			for n := 1; ; n++ {
				w, _ := verifyingWorld(t)
				ctx := context.Background()
				seed := w.create(t, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: ptr("sk-first-key-0000")})
				before := w.store.All()
				w.faults.FailAt(n, mode)
				var err error
				if name == "create" {
					_, err = w.svc.CreateVerified(ctx, "org", credentials.CreateInput{Provider: "anthropic", AccountKey: "b", APIKey: ptr("sk-good-key-1111")})
				} else {
					_, err = w.svc.UpdateVerified(ctx, "org", seed.ID, credentials.UpdateInput{APIKey: ptr("sk-good-key-1111")})
				}
				if w.faults.Injected() == 0 {
					if err != nil {
						t.Fatalf("%s: no fault injected, yet: %v", name, err)
					}
					break
				}
				ops := w.faults.String()
				w.faults.Reset()
				if d := mem.Disagreements(w.store, w.keys); d != nil {
					t.Errorf("%s, mode %d, call %s: the stores disagree: %q", name, mode, ops, d)
				}
				if err != nil && strings.Contains(err.Error(), "sk-good-key-1111") {
					t.Errorf("%s: the error names the key", name)
				}
				if err != nil && name == "update" && !reflect.DeepEqual(before, w.store.All()) {
					t.Errorf("%s, mode %d, call %s: failed (%v), yet changed the credentials", name, mode, ops, err)
				}
				if n > 50 {
					t.Fatal("more than 50 calls for one write")
				}
			}
		}
	}
}
