package localapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/secrets"
)

// secretCounts counts the secrets under the test's prefix: live, and
// scheduled for deletion.
func (h *harness) secretCounts() (live, scheduled int) {
	h.t.Helper()
	p := secretsmanager.NewListSecretsPaginator(h.env.SM, &secretsmanager.ListSecretsInput{
		IncludePlannedDeletion: aws.Bool(true),
		Filters:                []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{h.env.SecretPrefix + "/"}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			h.t.Fatalf("list secrets: %v", err)
		}
		for _, s := range page.SecretList {
			if s.DeletedDate == nil {
				live++
			} else {
				scheduled++
			}
		}
	}
	return live, scheduled
}

// TestNoOrphansWhenDynamoDBIsDown: with every DynamoDB call failing and
// Secrets Manager working, creates with keys answer 503 with Retry-After
// and leave no live secret behind (each is scheduled for deletion, since
// the outcome of the metadata write cannot be known).
func TestNoOrphansWhenDynamoDBIsDown(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-o", "admin")
	const creates = 100
	h.env.Calls.Outage("DynamoDB", awstest.Unavailable("DynamoDB"))
	for i := range creates {
		r := h.do("POST", "/provider-credentials", admin, map[string]any{
			"provider": "openai", "account_key": "k" + string(rune('a'+i%26)) + string(rune('a'+i/26)), "api_key": testKey,
		})
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Fatalf("create %d during the outage: %d %s (Retry-After %q), want 503 with Retry-After", i, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	h.env.Calls.Reset()
	live, scheduled := h.secretCounts()
	t.Logf("%d creates during a DynamoDB outage: %d live secrets, %d scheduled for deletion", creates, live, scheduled)
	if live != 0 || scheduled != creates {
		t.Errorf("live secrets = %d, scheduled = %d; want 0 and %d", live, scheduled, creates)
	}
	h.checkConsistent()
}

// TestCreateLandingLate: a create whose metadata write lands though its
// answer is lost, and whose re-read fails too, cannot tell it landed: it
// schedules its secret's deletion. The credential then claims a secret
// scheduled for deletion; the sweep restores it once the deletion is
// RestoreAfter old, and the key is readable again, at the version named.
func TestCreateLandingLate(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-l", "admin")
	// CreateSecret, TransactWriteItems (answer lost), GetItem (fails), DeleteSecret.
	h.env.Calls.LoseAnswerAt(2)
	h.env.Calls.AlsoFailAt(3)
	r := h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "openai", "account_key": "late", "api_key": testKey})
	ops := h.env.Calls.Ops()
	h.env.Calls.Reset()
	if r.status != 500 {
		t.Fatalf("create: %d %s, want 500 (calls %v)", r.status, r.body, ops)
	}
	var id string
	for _, c := range h.scan() {
		if c.Kind == "credential" {
			id = c.ID
		}
	}
	if id == "" {
		t.Fatalf("the create's write did not land (calls %v)", ops)
	}
	if live, scheduled := h.secretCounts(); live != 0 || scheduled != 1 {
		t.Fatalf("after the create: live %d, scheduled %d; want 0 and 1", live, scheduled)
	}
	ks, err := secrets.New(h.env.SM, h.env.SecretPrefix, 7)
	if err != nil {
		t.Fatal(err)
	}
	ks = ks.WithStack(h.env.StackName)
	store := dynamo.New(h.env.DDB, h.env.CredTable, h.env.UsageTable)
	later := func() time.Time { return time.Now().Add(10 * time.Minute) }
	st, err := refresh.Sweep(context.Background(), secrets.NewLister(ks, h.env.SM), store, ks, refresh.SweepOptions{Now: later})
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if st.Restored != 1 {
		t.Fatalf("sweep: %+v, want 1 restored", st)
	}
	if got := h.storedKey("org-l", id); got != testKey {
		t.Errorf("the key read after the restore is not the one created")
	}
	h.checkConsistent()
}
