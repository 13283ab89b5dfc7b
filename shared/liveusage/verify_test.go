package liveusage_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/usage"
)

// answer is a prober that gives one fixed result.
type answer usage.Result

func (a answer) Probe(_ context.Context, t usage.Target) usage.Result {
	r := usage.Result(a)
	r.Provider, r.AccountKey = t.Provider, t.AccountKey
	return r
}

func TestVerifyCodes(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		res  usage.Result
		ok   bool
		code string
	}{
		{usage.Result{Reachable: true}, true, ""},
		{usage.Result{Reachable: true, Error: str("rate limited (HTTP 429)"), ErrorCode: code(usage.CodeRateLimited)}, true, ""},
		{usage.Result{Error: str("authentication failed (HTTP 401): Incorrect API key provided"), ErrorCode: code(usage.CodeInvalidKey)}, false, "invalid_key"},
		{usage.Result{Error: str("API key disabled"), ErrorCode: code(usage.CodePermissionDenied)}, false, "permission_denied"},
		{usage.Result{Error: str("timeout"), ErrorCode: code(usage.CodeTimeout)}, false, "timeout"},
		{usage.Result{Error: str("no API key configured"), ErrorCode: code(usage.CodeNoKey)}, false, "no_key"},
		{usage.Result{Error: str("base_url required"), ErrorCode: code(usage.CodeBadBaseURL)}, false, "bad_base_url"},
		{usage.Result{Error: str("address not allowed"), ErrorCode: code(usage.CodeAddressNotAllowed)}, false, "address_not_allowed"},
		{usage.Result{Error: str("tls handshake failed"), ErrorCode: code(usage.CodeTLSError)}, false, "tls_error"},
		{usage.Result{Error: str("provider error (HTTP 503)"), ErrorCode: code(usage.CodeProviderError)}, false, "provider_error"},
		{usage.Result{}, false, "unreachable"},
	} {
		s := liveusage.New(mem.NewStore(nil), mem.NewKeyStore(nil), answer(tc.res), liveusage.Options{})
		v := s.Verify(context.Background(), credentials.VerifyTarget{Provider: "openai", APIKey: "sk-x"})
		if v.OK != tc.ok || v.Code != tc.code || (!v.OK && v.Message == "") {
			t.Errorf("%+v: verdict ok %v code %q message %q, want ok %v code %q", tc.res.Error, v.OK, v.Code, v.Message, tc.ok, tc.code)
		}
	}
}

// An accepted verification, remembered for the credential it was made for,
// serves the next read without a probe; for another fingerprint it does not.
func TestRememberedVerificationServesTheNextRead(t *testing.T) {
	ctx := context.Background()
	store, keys := mem.NewStore(nil), mem.NewKeyStore(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := credentials.NewService(store, credentials.Options{Keys: keys, Log: log})
	c, err := svc.Create(ctx, "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: func() *string { s := "sk-verified-1111"; return &s }()})
	if err != nil {
		t.Fatal(err)
	}
	p := &prober{now: time.Now}
	live := liveusage.New(store, keys, p, liveusage.Options{Fresh: time.Minute, Log: log})
	v := live.Verify(ctx, credentials.VerifyTarget{Provider: c.Provider, AccountKey: c.AccountKey, APIKey: "sk-verified-1111"})
	if !v.OK {
		t.Fatalf("verdict %+v", v)
	}
	if err := live.Remember(ctx, c, v); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Usage(ctx, "org", c.ID, false); err != nil {
		t.Fatal(err)
	}
	if p.count() != 1 {
		t.Errorf("%d probes, want 1 (the verification's)", p.count())
	}
	stale := c
	stale.KeyVersion = "another"
	if err := live.Remember(ctx, stale, v); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Usage(ctx, "org", c.ID, false); err != nil {
		t.Fatal(err)
	}
	if p.count() != 2 {
		t.Errorf("%d probes, want 2: a result remembered under another fingerprint is stale", p.count())
	}
}
