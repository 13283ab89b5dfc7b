package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/refresh"
)

// oneSecret lists one old orphan; its re-read (Describe) and re-checked
// claim are whatever the test sets, as if changed after the listing.
type oneSecret struct {
	listed      refresh.ListedSecret
	now         refresh.ListedSecret
	found       bool
	claimedNow  bool
	describeErr error
	deleted     []string

	claimedInBulk bool // the bulk check's answer (else unclaimed)
	locked        bool // the re-read credential holds a live lock
	restored      []string
}

func (o *oneSecret) List(_ context.Context, fn func(refresh.ListedSecret) (bool, error)) error {
	_, err := fn(o.listed)
	return err
}

func (o *oneSecret) Describe(context.Context, string) (refresh.ListedSecret, bool, error) {
	return o.now, o.found, o.describeErr
}

func (o *oneSecret) ClaimedSecrets(context.Context, []refresh.SecretClaim) (map[int]bool, error) {
	if o.claimedInBulk {
		return map[int]bool{0: true}, nil
	}
	return map[int]bool{}, nil // the bulk check: unclaimed
}

func (o *oneSecret) SecretClaimState(context.Context, refresh.SecretClaim, time.Time) (refresh.ClaimState, error) {
	return refresh.ClaimState{Claimed: o.claimedNow, Locked: o.locked}, nil
}

func (o *oneSecret) Restore(_ context.Context, name string) error {
	o.restored = append(o.restored, name)
	return nil
}

func (o *oneSecret) SecretClaimed(context.Context, refresh.SecretClaim) (bool, error) {
	return o.claimedNow, nil
}

func (o *oneSecret) ScheduleDelete(_ context.Context, name string) error {
	o.deleted = append(o.deleted, name)
	return nil
}

func TestSweepRechecksBeforeDeleting(t *testing.T) {
	now := time.Now()
	old := refresh.ListedSecret{Name: "p/org/c1", OrgID: "org", CredentialID: "c1", Changed: now.Add(-48 * time.Hour), Owned: true}
	recent := old
	recent.Changed = now.Add(-time.Minute)
	pending := old
	pending.Deleted = true
	foreign := old
	foreign.Owned = false
	tests := []struct {
		name        string
		now         refresh.ListedSecret
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
		{"not tagged with this stack when re-read", foreign, true, false, nil, false, 1, 0},
		{"gone since", refresh.ListedSecret{}, false, false, nil, false, 1, 0},
		{"re-read failed", refresh.ListedSecret{}, false, false, errors.New("throttled"), false, 0, 1},
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

func TestSweepRestoresOnlyAClaimedOldUnlockedDeletion(t *testing.T) {
	now := time.Now()
	pending := refresh.ListedSecret{Name: "p/org/c1", OrgID: "org", CredentialID: "c1", Changed: now.Add(-48 * time.Hour), Owned: true,
		Deleted: true, DeletedAt: now.Add(-10 * time.Minute)}
	fresh := pending
	fresh.DeletedAt = now.Add(-time.Minute)
	live := pending
	live.Deleted, live.DeletedAt = false, time.Time{}
	foreign := pending
	foreign.Owned = false
	tests := []struct {
		name          string
		listed        refresh.ListedSecret
		bulk, claimed bool
		locked        bool
		now           refresh.ListedSecret
		found         bool
		describeErr   error
		restored      bool
		held, failed  int
	}{
		{"claimed, unlocked, old", pending, true, true, false, pending, true, nil, true, 0, 0},
		{"unclaimed: being deleted as asked", pending, false, false, false, pending, true, nil, false, 0, 0},
		{"requested a minute ago: a request may be in flight", fresh, true, true, false, fresh, true, nil, false, 0, 0},
		{"no longer claimed when re-read", pending, true, false, false, pending, true, nil, false, 1, 0},
		{"credential locked", pending, true, true, true, pending, true, nil, false, 1, 0},
		{"deletion requested again since", pending, true, true, false, fresh, true, nil, false, 1, 0},
		{"restored since", pending, true, true, false, live, true, nil, false, 1, 0},
		{"not tagged with this stack when re-read", pending, true, true, false, foreign, true, nil, false, 1, 0},
		{"gone since", pending, true, true, false, refresh.ListedSecret{}, false, nil, false, 1, 0},
		{"re-read failed", pending, true, true, false, refresh.ListedSecret{}, false, errors.New("throttled"), false, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &oneSecret{listed: tt.listed, now: tt.now, found: tt.found, claimedInBulk: tt.bulk, claimedNow: tt.claimed,
				locked: tt.locked, describeErr: tt.describeErr}
			st, err := refresh.Sweep(context.Background(), o, o, o, refresh.SweepOptions{Now: func() time.Time { return now }, Log: quiet()})
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			if len(o.deleted) != 0 {
				t.Fatalf("deleted %v: a secret scheduled for deletion is never deleted again", o.deleted)
			}
			if (len(o.restored) == 1) != tt.restored || st.Restored != len(o.restored) || st.RestoreHeld != tt.held || st.RestoreFailed != tt.failed || st.Pending != 1 {
				t.Fatalf("restored %v, stats %+v; want restored %v, held %d, failed %d, pending 1", o.restored, st, tt.restored, tt.held, tt.failed)
			}
		})
	}
}

// manyPending lists n claimed secrets scheduled for deletion long ago.
type manyPending struct {
	oneSecret
	n int
}

func (m *manyPending) List(_ context.Context, fn func(refresh.ListedSecret) (bool, error)) error {
	for i := range m.n {
		l := m.listed
		l.Name, l.CredentialID = fmt.Sprintf("p/org/c%d", i), fmt.Sprintf("c%d", i)
		if more, err := fn(l); err != nil || !more {
			return err
		}
	}
	return nil
}

func (m *manyPending) ClaimedSecrets(_ context.Context, refs []refresh.SecretClaim) (map[int]bool, error) {
	claimed := map[int]bool{}
	for i := range refs {
		claimed[i] = true
	}
	return claimed, nil
}

func TestSweepCapsRestores(t *testing.T) {
	now := time.Now()
	l := refresh.ListedSecret{OrgID: "org", Changed: now.Add(-48 * time.Hour), Deleted: true, Owned: true, DeletedAt: now.Add(-time.Hour)}
	m := &manyPending{oneSecret: oneSecret{listed: l, now: l, found: true, claimedNow: true}, n: 7}
	st, err := refresh.Sweep(context.Background(), m, m, m, refresh.SweepOptions{Now: func() time.Time { return now }, MaxRestores: 3, Log: quiet()})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if st.Restored != 3 || len(m.restored) != 3 {
		t.Fatalf("restored %v (%+v); want 3, the cap", m.restored, st)
	}
}
