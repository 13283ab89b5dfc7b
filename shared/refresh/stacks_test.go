package refresh_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/secrets"
)

// TestSweepTouchesOnlyItsOwnStack: two deployments share one emulator and,
// set so by hand, one secret prefix; each has its own tables and stack tag.
// Each has a live key, an orphan (a secret no credential claims) and a
// claimed key scheduled for deletion (a delete killed between its two
// writes); an untagged secret of an older deployment shares the prefix
// too. With every age threshold passed, each sweep deletes only its own
// orphan and restores only its own key, whichever sweeps first; the live
// keys and the untagged secret are never touched.
func TestSweepTouchesOnlyItsOwnStack(t *testing.T) {
	ctx := context.Background()
	a := newWorld(t)
	b := newWorld(t, "SECRET_PREFIX", a.env.SecretPrefix)
	if a.env.SecretPrefix != b.env.SecretPrefix || a.env.StackName == b.env.StackName {
		t.Fatalf("prefixes %q %q, stacks %q %q: want one prefix, two stacks", a.env.SecretPrefix, b.env.SecretPrefix, a.env.StackName, b.env.StackName)
	}
	fake := newFakeProvider(t, 0, false)
	type secretsOf struct{ live, orphan, pending string }
	setup := func(w *world) secretsOf {
		t.Helper()
		live := w.create("org-x", "openai", fake.URL+"/v1", "sk-live-key-0001", true)
		pending := w.create("org-x", "openai", fake.URL+"/v1", "sk-pending-0002", true)
		if err := w.keys.ScheduleDelete(ctx, pending.SecretName); err != nil {
			t.Fatalf("schedule deletion: %v", err)
		}
		orphan := w.keys.Name("org-x", credentials.NewID())
		if _, err := w.keys.Create(ctx, credentials.SecretRef{Name: orphan, OrgID: "org-x", CredentialID: "x", Provider: "openai"}, "sk-orphan-0003"); err != nil {
			t.Fatalf("create orphan: %v", err)
		}
		return secretsOf{live: live.SecretName, orphan: orphan, pending: pending.SecretName}
	}
	sa, sb := setup(a), setup(b)
	untagged := a.keys.Name("org-x", credentials.NewID())
	if _, err := a.env.SM.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &untagged, SecretString: aws.String(`{"api_key":"old"}`)}); err != nil {
		t.Fatalf("create untagged: %v", err)
	}
	state := func(name string) string {
		t.Helper()
		out, err := a.env.SM.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
		if err != nil {
			t.Fatalf("describe %s: %v", name, err)
		}
		if out.DeletedDate != nil {
			return "scheduled"
		}
		return "live"
	}
	later := func() time.Time { return time.Now().Add(48 * time.Hour) } // past MinAge and RestoreAfter
	sweep := func(w *world) refresh.SweepStats {
		t.Helper()
		st, err := refresh.Sweep(ctx, secrets.NewLister(w.keys, w.env.SM), w.store, w.keys, refresh.SweepOptions{Now: later, Log: w.b.Log})
		if err != nil {
			t.Fatalf("sweep: %v", err)
		}
		return st
	}

	stB := sweep(b)
	if stB.Listed != 3 || stB.Deleted != 1 || stB.Restored != 1 {
		t.Errorf("stack B's sweep: %+v; want 3 listed (its own), 1 deleted, 1 restored", stB)
	}
	for name, want := range map[string]string{
		sa.live: "live", sa.orphan: "live", sa.pending: "scheduled", untagged: "live",
		sb.live: "live", sb.orphan: "scheduled", sb.pending: "live",
	} {
		if got := state(name); got != want {
			t.Errorf("after stack B's sweep: %s is %s, want %s", name, got, want)
		}
	}
	stA := sweep(a)
	if stA.Listed != 3 || stA.Deleted != 1 || stA.Restored != 1 {
		t.Errorf("stack A's sweep: %+v; want 3 listed (its own), 1 deleted, 1 restored", stA)
	}
	for name, want := range map[string]string{
		sa.live: "live", sa.orphan: "scheduled", sa.pending: "live", untagged: "live",
		sb.live: "live", sb.orphan: "scheduled", sb.pending: "live",
	} {
		if got := state(name); got != want {
			t.Errorf("after stack A's sweep: %s is %s, want %s", name, got, want)
		}
	}
	// Again, both: nothing more to do, and nothing of the other's touched.
	for _, w := range []*world{a, b} {
		if st := sweep(w); st.Deleted != 0 || st.Restored != 0 {
			t.Errorf("second sweep of %s: %+v; want nothing deleted or restored", w.env.StackName, st)
		}
	}
	if got := state(untagged); got != "live" {
		t.Errorf("the untagged secret is %s, want live", got)
	}
}
