package refresh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/fakeprovider"
	"github.com/acme/provider-credentials/shared/dynamo"
)

// TestRefreshKeepsHealth drives the scheduled refresh (scheduled.Runner,
// the dynamo adapter on moto, the real prober) against a provider that
// accepts a key, then rejects it (401), then accepts it again: health goes
// ok → failing → ok, failing_since is the first rejecting run's and kept
// while it fails, last_ok_at stays coarse, and a run that changes nothing
// writes nothing. The provider's requests window is nearly spent, so the
// quota-low marker is written once.
func TestRefreshKeepsHealth(t *testing.T) {
	const key = "sk-health-test-key-QQQQ"
	provider := fakeprovider.NewOpenAI()
	provider.SetRequests(1000, 42, "30m0s")
	fake := httptest.NewServer(provider)
	t.Cleanup(fake.Close)
	w := newWorld(t)
	c := w.create("org-h", "openai", fake.URL+"/v1", key, true)
	c, err := w.store.Get(context.Background(), "org-h", c.ID) // as stored
	if err != nil {
		t.Fatal(err)
	}

	run := func(step string) credentials.Credential {
		t.Helper()
		var metrics bytes.Buffer
		if _, err := w.runner(&metrics).Run(context.Background(), 0); err != nil {
			t.Fatalf("%s: Run: %v", step, err)
		}
		got, err := w.store.Get(context.Background(), "org-h", c.ID)
		if err != nil {
			t.Fatalf("%s: get: %v", step, err)
		}
		if got.Revision != c.Revision || !got.UpdatedAt.Equal(c.UpdatedAt) {
			t.Fatalf("%s: revision %d updated_at %v, want %d %v: a health write must not touch them", step, got.Revision, got.UpdatedAt, c.Revision, c.UpdatedAt)
		}
		return got
	}
	served := func(c credentials.Credential) map[string]any {
		var v struct {
			Health map[string]any `json:"health"`
		}
		b, _ := json.Marshal(c)
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v.Health
	}

	before := time.Now().UTC()
	ok1 := run("accepted").CurrentHealth()
	if ok1.Status != credentials.HealthOK || ok1.LastOKAt.Before(before.Truncate(time.Microsecond)) || !ok1.FailingSince.IsZero() || ok1.ErrorCode != nil {
		t.Fatalf("after an accepting run: %+v, want ok with last_ok_at now", ok1)
	}
	if q := ok1.QuotaLow; q == nil || q.Window != "requests" || q.RemainingPct != 4.2 || q.ResetAt.Before(before.Add(29*time.Minute)) {
		t.Fatalf("quota low %+v, want requests at 4.2%% resetting in 30 min", q)
	}
	if again := run("accepted again").CurrentHealth(); !again.CheckedAt.Equal(ok1.CheckedAt) || !again.QuotaLow.ResetAt.Equal(ok1.QuotaLow.ResetAt) {
		t.Fatalf("a run that changed nothing rewrote health: checked_at %v → %v, quota reset %v → %v", ok1.CheckedAt, again.CheckedAt, ok1.QuotaLow.ResetAt, again.QuotaLow.ResetAt)
	}

	provider.Reject(true)
	rejectedAt := time.Now().UTC().Truncate(time.Microsecond)
	f1 := run("rejected")
	h := f1.CurrentHealth()
	if h.Status != credentials.HealthFailing || h.ErrorCode == nil || *h.ErrorCode != "invalid_key" || h.FailingSince.Before(rejectedAt) || !h.LastOKAt.Equal(ok1.LastOKAt) {
		t.Fatalf("after a rejecting run: %+v, want failing invalid_key since now, last_ok_at %v kept", h, ok1.LastOKAt)
	}
	if v := served(f1); v["status"] != "failing" || v["error_code"] != "invalid_key" || v["failing_since"] != credentials.FormatTime(h.FailingSince) || v["last_ok_at"] != credentials.FormatTime(ok1.LastOKAt) {
		t.Fatalf("served health %v", v)
	}
	if h2 := run("still rejected").CurrentHealth(); !h2.FailingSince.Equal(h.FailingSince) || !h2.CheckedAt.Equal(h.CheckedAt) {
		t.Fatalf("still failing: failing_since %v → %v, checked_at %v → %v; want both kept (no write)", h.FailingSince, h2.FailingSince, h.CheckedAt, h2.CheckedAt)
	}

	provider.Reject(false)
	acceptedAt := time.Now().UTC().Truncate(time.Microsecond)
	ok2 := run("accepted once more").CurrentHealth()
	if ok2.Status != credentials.HealthOK || !ok2.FailingSince.IsZero() || ok2.ErrorCode != nil || ok2.LastOKAt.Before(acceptedAt) {
		t.Fatalf("after accepting again: %+v, want ok, failing_since cleared, last_ok_at now", ok2)
	}

	// Only health attributes ever changed, and never the key: the item as
	// stored names them and nothing else new.
	out, err := w.env.DDB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &w.env.CredTable,
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "org-h"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "CRED#" + c.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{dynamo.AttrHealthStatus, dynamo.AttrLastOKAt, dynamo.AttrHealthCheckedAt, dynamo.AttrQuotaLowWindow} {
		if out.Item[a] == nil {
			t.Errorf("stored item lacks %s", a)
		}
	}
	for _, a := range []string{dynamo.AttrHealthCode, dynamo.AttrFailingSince} {
		if out.Item[a] != nil {
			t.Errorf("stored item still has %s after recovering", a)
		}
	}
	if raw := fmt.Sprint(out.Item); strings.Contains(raw, key[len(key)-8:]) || strings.Contains(w.logs(), key[len(key)-8:]) {
		t.Errorf("the key leaked into the item or the logs")
	}
}
