package refresh_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/secrets"
)

// oneSecret lists one old orphan; its re-read (Describe) and re-checked
// claim are whatever the test sets, as if changed after the listing.
type oneSecret struct {
	listed      secrets.Listed
	now         secrets.Listed
	found       bool
	claimedNow  bool
	describeErr error
	deleted     []string
}

func (o *oneSecret) List(_ context.Context, fn func(secrets.Listed) (bool, error)) error {
	_, err := fn(o.listed)
	return err
}

func (o *oneSecret) Describe(context.Context, string) (secrets.Listed, bool, error) {
	return o.now, o.found, o.describeErr
}

func (o *oneSecret) ClaimedSecrets(context.Context, []dynamo.SecretClaim) (map[int]bool, error) {
	return map[int]bool{}, nil // the bulk check: unclaimed
}

func (o *oneSecret) SecretClaimed(context.Context, dynamo.SecretClaim) (bool, error) {
	return o.claimedNow, nil
}

func (o *oneSecret) ScheduleDelete(_ context.Context, name string) error {
	o.deleted = append(o.deleted, name)
	return nil
}

func TestSweepRechecksBeforeDeleting(t *testing.T) {
	now := time.Now()
	old := secrets.Listed{Name: "p/org/c1", OrgID: "org", CredentialID: "c1", Changed: now.Add(-48 * time.Hour)}
	recent := old
	recent.Changed = now.Add(-time.Minute)
	pending := old
	pending.Deleted = true
	tests := []struct {
		name        string
		now         secrets.Listed
		found       bool
		claimedNow  bool
		describeErr error
		deleted     bool
		spared      int
		failed      int
	}{
		{"still an orphan", old, true, false, nil, true, 0, 0},
		{"claimed since the bulk check", old, true, true, nil, false, 1, 0},
		{"written since it was listed", recent, true, false, nil, false, 1, 0},
		{"scheduled for deletion since", pending, true, false, nil, false, 1, 0},
		{"gone since", secrets.Listed{}, false, false, nil, false, 1, 0},
		{"re-read failed", secrets.Listed{}, false, false, errors.New("throttled"), false, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &oneSecret{listed: old, now: tt.now, found: tt.found, claimedNow: tt.claimedNow, describeErr: tt.describeErr}
			st, err := refresh.Sweep(context.Background(), o, o, o, refresh.SweepOptions{Now: func() time.Time { return now }, Log: quiet()})
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			if (len(o.deleted) == 1) != tt.deleted || st.Spared != tt.spared || st.Failed != tt.failed {
				t.Fatalf("deleted %v, stats %+v; want deleted %v, spared %d, failed %d", o.deleted, st, tt.deleted, tt.spared, tt.failed)
			}
		})
	}
}
