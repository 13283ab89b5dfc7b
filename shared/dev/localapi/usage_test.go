package localapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/acme/provider-credentials/shared/app"
	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/fakeprovider"
	"github.com/acme/provider-credentials/shared/dynamo"
)

// fakeOpenAI is the fake OpenAI-style provider on a loopback server.
type fakeOpenAI struct {
	*httptest.Server
	provider *fakeprovider.OpenAI
}

// newFakeOpenAI accepts only the valid keys (none: no key at all).
func newFakeOpenAI(t *testing.T, valid ...string) *fakeOpenAI {
	if len(valid) == 0 {
		valid = []string{"\x00no key is valid"}
	}
	p := fakeprovider.NewOpenAI(valid...)
	f := &fakeOpenAI{Server: httptest.NewServer(p), provider: p}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOpenAI) seen() []string { return f.provider.Seen() }

type usageResult struct {
	Provider   string  `json:"provider"`
	AccountKey string  `json:"account_key"`
	CheckedAt  string  `json:"checked_at"`
	Reachable  bool    `json:"reachable"`
	Error      *string `json:"error"`
	Tokens     struct {
		Limit     *int64   `json:"limit"`
		Remaining *int64   `json:"remaining"`
		Used      *int64   `json:"used"`
		PctUsed   *float64 `json:"pct_used"`
		ResetAt   *string  `json:"reset_at"`
		ResetInMS *int64   `json:"reset_in_ms"`
	} `json:"tokens"`
	InputTokens struct {
		Limit *int64 `json:"limit"`
	} `json:"input_tokens"`
	Requests struct {
		Limit     *int64 `json:"limit"`
		Remaining *int64 `json:"remaining"`
		ResetInMS *int64 `json:"reset_in_ms"`
	} `json:"requests"`
	Models                []string `json:"models"`
	SampleModel           *string  `json:"sample_model"`
	DebugRateLimitHeaders []string `json:"debug_rate_limit_headers"`
}

func (h *harness) usage(token, id, query string) (usageResult, response) {
	h.t.Helper()
	r := h.do("GET", "/provider-credentials/"+id+"/usage"+query, token, nil)
	var u usageResult
	if r.status == 200 {
		r.json(h.t, &u)
	}
	return u, r
}

func TestUsageProbeCacheAndInvalidation(t *testing.T) {
	const key1, key2 = "sk-live-first-key-AAAA", "sk-live-second-key-BBBB"
	fake := newFakeOpenAI(t, key1, key2)
	other := newFakeOpenAI(t, key2)
	h := newHarness(t)
	admin, member := h.token("org-u", "admin"), h.token("org-u", "member")
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "default", "api_key": key1, "base_url": fake.URL + "/v1"})

	// First read probes: model list, then one token of chat for the windows.
	u, r := h.usage(member, c.ID, "")
	wantStatus(t, r, 200)
	if !u.Reachable || u.Error != nil || u.Provider != "openai" || u.AccountKey != "default" {
		t.Fatalf("usage = %s", r.body)
	}
	if *u.Tokens.Limit != 160000 || *u.Tokens.Remaining != 159976 || *u.Tokens.Used != 24 ||
		!within(*u.Tokens.ResetInMS, 360000, 362000) || *u.Requests.Limit != 5000 ||
		!within(*u.Requests.ResetInMS, 12, 2000) || u.InputTokens.Limit != nil {
		t.Fatalf("windows = %s", r.body)
	}
	if len(u.Models) != 1 || u.Models[0] != "gpt-4o-mini" || u.SampleModel == nil {
		t.Fatalf("models = %v, sample = %v", u.Models, u.SampleModel)
	}
	if strings.Join(u.DebugRateLimitHeaders, ",") != "x-ratelimit-limit-requests,x-ratelimit-limit-tokens,x-ratelimit-remaining-requests,x-ratelimit-remaining-tokens,x-ratelimit-reset-requests,x-ratelimit-reset-tokens" {
		t.Fatalf("debug headers = %v", u.DebugRateLimitHeaders)
	}
	probes := len(fake.seen())

	// A second read is served from the cache: one BatchGetItem, no probe.
	h.env.Calls.Reset()
	u2, r := h.usage(member, c.ID, "")
	wantStatus(t, r, 200)
	if got := h.env.Calls.Ops(); len(got) != 1 || got[0] != "DynamoDB.BatchGetItem" {
		t.Fatalf("cache hit AWS calls = %v, want [DynamoDB.BatchGetItem]", got)
	}
	if len(fake.seen()) != probes || u2.CheckedAt != u.CheckedAt {
		t.Fatalf("cache hit probed again (%d requests, checked_at %s vs %s)", len(fake.seen())-probes, u2.CheckedAt, u.CheckedAt)
	}

	// ?refresh=true probes now.
	time.Sleep(2 * time.Millisecond)
	u3, r := h.usage(member, c.ID, "?refresh=true")
	wantStatus(t, r, 200)
	if len(fake.seen()) == probes || u3.CheckedAt == u.CheckedAt {
		t.Fatalf("refresh=true did not probe")
	}
	if _, r := h.usage(member, c.ID, "?refresh=perhaps"); r.status != 422 {
		t.Fatalf("refresh=perhaps: status = %d, want 422", r.status)
	}

	// A new key takes effect at once: the next read probes with it.
	wantStatus(t, h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": key2}), 200)
	n := len(fake.seen())
	u4, r := h.usage(member, c.ID, "")
	wantStatus(t, r, 200)
	seen := fake.seen()
	if len(seen) == n || seen[len(seen)-1] != key2 || !u4.Reachable {
		t.Fatalf("after key change: probed=%v reachable=%v", len(seen) > n, u4.Reachable)
	}
	// So does a new base URL.
	wantStatus(t, h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"base_url": other.URL + "/v1"}), 200)
	if _, r := h.usage(member, c.ID, ""); r.status != 200 || len(other.seen()) == 0 {
		t.Fatalf("after base_url change: status %d, new server saw %d requests", r.status, len(other.seen()))
	}
	// A display-name change keeps the cached result.
	wantStatus(t, h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"display_name": "renamed"}), 200)
	n = len(other.seen())
	h.usage(member, c.ID, "")
	if len(other.seen()) != n {
		t.Fatalf("a display-name change invalidated the cached usage")
	}

	// Another organisation cannot read it.
	if _, r := h.usage(h.token("org-x", "admin"), c.ID, ""); r.status != 404 {
		t.Fatalf("other org: status = %d, want 404", r.status)
	}
	if _, r := h.usage(member, "nope", ""); r.status != 422 {
		t.Fatalf("bad id: status = %d, want 422", r.status)
	}

	// No cache item holds the key.
	out, err := h.env.DDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &h.env.UsageTable})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("usage table: %d items, err %v", len(out.Items), err)
	}
	var rows []map[string]any
	_ = attributevalue.UnmarshalListOfMaps(out.Items, &rows)
	if b, _ := json.Marshal(rows); strings.Contains(string(b), "AAAA") || strings.Contains(string(b), "BBBB") || strings.Contains(string(b), "sk-live") {
		t.Fatalf("a cache item holds key material")
	}
	if rows[0]["expires_at"] == nil {
		t.Fatalf("cache item has no TTL attribute: %v", rows[0])
	}

	// DELETE removes the cached result with the credential.
	wantStatus(t, h.do("DELETE", "/provider-credentials/"+c.ID, admin, nil), 204)
	if _, r := h.usage(member, c.ID, ""); r.status != 404 {
		t.Fatalf("usage after delete: status = %d, want 404", r.status)
	}
	out, _ = h.env.DDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &h.env.UsageTable})
	if len(out.Items) != 0 {
		t.Fatalf("usage table still has %d items after delete", len(out.Items))
	}
}

func TestUsageStaleAfterFreshnessWindow(t *testing.T) {
	const key = "sk-live-fresh-key-CCCC"
	fake := newFakeOpenAI(t, key)
	env := awstest.New(t)
	env.Set("USAGE_FRESH_SECONDS", "1")
	h := harnessFor(t, env)
	admin := h.token("org-s", "admin")
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": key, "base_url": fake.URL + "/v1"})
	h.usage(admin, c.ID, "")
	n := len(fake.seen())
	time.Sleep(1100 * time.Millisecond) // past the 1 s window; TTL has not deleted the row
	h.usage(admin, c.ID, "")
	if len(fake.seen()) == n {
		t.Fatalf("a result older than the freshness window was served")
	}
}

func TestUsageRejectedKeyIsRedacted(t *testing.T) {
	const key = "sk-proj-REJECTEDkey0123456789wxyz"
	fake := newFakeOpenAI(t) // accepts nothing
	h := newHarness(t)
	admin := h.token("org-r", "admin")
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": key, "base_url": fake.URL + "/v1"})
	u, r := h.usage(admin, c.ID, "")
	wantStatus(t, r, 200)
	if u.Reachable || u.Error == nil || *u.Error == "" {
		t.Fatalf("rejected key: %s", r.body)
	}
	for _, leak := range []string{key, key[:8], key[len(key)-4:], "REJECTED"} {
		if strings.Contains(string(r.body), leak) || strings.Contains(h.log.String(), leak) {
			t.Fatalf("key material %q leaked into the response or logs", leak)
		}
	}
	if u.Tokens.Limit != nil || u.Tokens.Used != nil {
		t.Fatalf("windows invented for a rejected key: %s", r.body)
	}
}

func TestTestRouteProbesAndSavesNothing(t *testing.T) {
	const key = "sk-test-route-key-DDDD"
	fake := newFakeOpenAI(t, key)
	h := newHarness(t)
	admin := h.token("org-t", "admin")
	r := h.do("POST", "/provider-credentials/test", admin, map[string]any{"provider": "openai", "account_key": "  ", "api_key": key, "base_url": fake.URL + "/v1"})
	wantStatus(t, r, 200)
	var u usageResult
	r.json(t, &u)
	if !u.Reachable || u.AccountKey != "test" || *u.Tokens.Limit != 160000 {
		t.Fatalf("test result = %s", r.body)
	}
	if strings.Contains(string(r.body), key) {
		t.Fatalf("the key is in the response")
	}
	for _, tc := range []struct {
		body any
		want int
	}{
		{map[string]any{"provider": "skynet"}, 422},
		{map[string]any{"provider": "openai_compatible", "api_key": key}, 422},
		{map[string]any{"provider": "openai", "base_url": "ftp://example.com"}, 422},
		{map[string]any{"account_key": "x"}, 422},
		{`{"provider":`, 422},
	} {
		if r := h.do("POST", "/provider-credentials/test", admin, tc.body); r.status != tc.want {
			t.Errorf("body %v: status = %d, want %d (%s)", tc.body, r.status, tc.want, r.body)
		}
	}
	if r := h.do("POST", "/provider-credentials/test", h.token("org-t", "member"), map[string]any{"provider": "openai"}); r.status != 403 {
		t.Errorf("member: status = %d, want 403", r.status)
	}
	// Nothing saved: no credential, no cached usage, no secret.
	for _, table := range []string{h.env.CredTable, h.env.UsageTable} {
		out, err := h.env.DDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table})
		if err != nil || len(out.Items) != 0 {
			t.Fatalf("table %s: %d items after /test (err %v)", table, len(out.Items), err)
		}
	}
	secrets, err := h.env.SM.ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{h.env.SecretPrefix + "/"}}},
	})
	if err != nil || len(secrets.SecretList) != 0 {
		t.Fatalf("secrets after /test: %d (err %v)", len(secrets.SecretList), err)
	}
}

func TestBaseURLRefusedWithoutPrivateNetworks(t *testing.T) {
	h := newHarness(t, "PROBE_ALLOW_PRIVATE_NETWORKS", "0")
	admin := h.token("org-p", "admin")
	for _, base := range []string{"http://api.example.com/v1", "https://127.0.0.1/v1", "https://169.254.169.254/latest", "https://[::1]/v1", "https://2130706433/v1", "https://localhost/v1"} {
		if r := h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "openai_compatible", "account_key": base, "base_url": base}); r.status != 422 {
			t.Errorf("create with base_url %s: status = %d, want 422", base, r.status)
		}
		if r := h.do("POST", "/provider-credentials/test", admin, map[string]any{"provider": "openai", "base_url": base}); r.status != 422 {
			t.Errorf("test with base_url %s: status = %d, want 422", base, r.status)
		}
	}
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "a"})
	if r := h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"base_url": "https://10.0.0.1/v1"}); r.status != 422 {
		t.Errorf("patch to a private base_url: status = %d, want 422", r.status)
	}
}

// within reports lo <= v <= hi: relative resets count from when the answer
// arrived, reset_in_ms from checked_at, so the probe's latency adds a little.
func within(v, lo, hi int64) bool { return lo <= v && v <= hi }

// TestScheduledResultsServedUntilTheNextRefresh: a result the scheduled
// refresh wrote is served past the read freshness window (page views read
// minutes-old numbers instead of probing); a read's own result is not.
func TestScheduledResultsServedUntilTheNextRefresh(t *testing.T) {
	const key = "sk-live-sched-key-EEEE"
	fake := newFakeOpenAI(t, key)
	env := awstest.New(t)
	env.Set("USAGE_FRESH_SECONDS", "1")
	env.Set("USAGE_SCHEDULED_FRESH_SECONDS", "300")
	h := harnessFor(t, env)
	admin := h.token("org-s", "admin")
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": key, "base_url": fake.URL + "/v1"})

	b, err := app.NewBuilder(context.Background(), env.Getenv, app.Clients{DynamoDB: env.DDB, SecretsManager: env.SM})
	if err != nil {
		t.Fatal(err)
	}
	live, err := b.LiveUsage()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := dynamo.New(env.DDB, env.CredTable, env.UsageTable).Get(context.Background(), "org-s", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.Refresh(context.Background(), stored); err != nil { // what the scheduled refresh does
		t.Fatal(err)
	}
	n := len(fake.seen())
	time.Sleep(1100 * time.Millisecond) // past the read window, inside the scheduled one
	u, r := h.usage(admin, c.ID, "")
	wantStatus(t, r, 200)
	if len(fake.seen()) != n || !u.Reachable {
		t.Fatalf("a scheduled result 1 s old was not served (probes %d → %d)", n, len(fake.seen()))
	}
	// A key change still makes it unusable at once.
	wantStatus(t, h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"base_url": fake.URL + "/v1/"}), 200)
	h.usage(admin, c.ID, "")
	if len(fake.seen()) == n {
		t.Fatalf("a scheduled result was served after the base URL changed")
	}
}
