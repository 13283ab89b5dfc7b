package mem_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/mem"
	"github.com/acme/provider-credentials/shared/dev/moto"
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/secrets"
)

// The same behavioural contract runs against the in-memory Store and the
// DynamoDB adapter on moto (through the real SDK), so the fake cannot
// drift from the adapter. Without moto_server only the in-memory half runs.

var noAWS string // why the adapter half cannot run

func TestMain(m *testing.M) {
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"} {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, v)
		}
	}
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		srv, err := moto.Start(context.Background())
		if err != nil {
			noAWS = err.Error()
			if os.Getenv("CI") != "" {
				fmt.Fprintln(os.Stderr, "mem:", err)
				os.Exit(1)
			}
		} else {
			_ = os.Setenv("AWS_ENDPOINT_URL", srv.URL)
			code := m.Run()
			srv.Stop()
			os.Exit(code)
		}
	}
	os.Exit(m.Run())
}

// store is what both implementations offer.
type store interface {
	credentials.Store
	liveusage.Store
	refresh.ClaimChecker
}

func implementations(t *testing.T, run func(t *testing.T, s store)) {
	t.Run("mem", func(t *testing.T) { run(t, mem.NewStore(nil)) })
	t.Run("dynamo", func(t *testing.T) {
		if noAWS != "" {
			t.Skip("no emulator:", noAWS)
		}
		env := awstest.New(t)
		run(t, dynamo.New(env.DDB, env.CredTable, env.UsageTable))
	})
}

func cred(org, provider, account string) credentials.Credential {
	now := time.Now().UTC()
	last := "1234"
	return credentials.Credential{
		ID: credentials.NewID(), OrgID: org, Provider: provider, AccountKey: account, DisplayName: account,
		APIKeyLastFour: &last, HasAPIKey: true, Active: true, CreatedAt: now, UpdatedAt: now,
		SecretName: "p/" + org + "/" + account, KeyVersion: "v1", Revision: 1,
	}
}

func same(t *testing.T, what string, got, want credentials.Credential) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) || got.SecretName != want.SecretName || got.KeyVersion != want.KeyVersion || got.Revision != want.Revision {
		t.Fatalf("%s: got %s %s@%s rev %d, want %s %s@%s rev %d", what, g, got.SecretName, got.KeyVersion, got.Revision, w, want.SecretName, want.KeyVersion, want.Revision)
	}
}

func kind(t *testing.T, what string, err error, k credentials.Kind) {
	t.Helper()
	if err == nil || credentials.KindOf(err) != k {
		t.Fatalf("%s: err = %v (kind %d), want kind %d", what, err, credentials.KindOf(err), k)
	}
}

func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestContractCreateGetList(t *testing.T) {
	implementations(t, func(t *testing.T, s store) {
		ctx := context.Background()
		a := cred("org", "openai", "a")
		ok(t, "create", s.Create(ctx, a))
		ok(t, "the same create again (a retry that landed)", s.Create(ctx, a))
		dup := cred("org", "openai", "a")
		kind(t, "a duplicate", s.Create(ctx, dup), credentials.Conflict)
		ok(t, "the same provider and account key in another org", s.Create(ctx, cred("org-b", "openai", "a")))
		ok(t, "another account key", s.Create(ctx, cred("org", "openai", "b")))
		got, err := s.Get(ctx, "org", a.ID)
		ok(t, "get", err)
		same(t, "get", got, a)
		_, err = s.Get(ctx, "org-b", a.ID)
		kind(t, "get from another org", err, credentials.NotFound)
		list, err := s.List(ctx, "org")
		ok(t, "list", err)
		if len(list) != 2 {
			t.Fatalf("list: %d credentials, want 2", len(list))
		}
		for _, c := range list {
			if c.OrgID != "org" || c.LockToken != "" {
				t.Fatalf("list holds %+v", c)
			}
		}
	})
}

func TestContractPatch(t *testing.T) {
	implementations(t, func(t *testing.T, s store) {
		ctx := context.Background()
		a := cred("org", "openai", "a")
		ok(t, "create", s.Create(ctx, a))
		name, active := "New", false
		up := credentials.FormatTime(time.Now().Add(time.Second))
		got, err := s.Patch(ctx, "org", a.ID, credentials.Patch{DisplayName: &name, Active: &active, UpdatedAt: up})
		ok(t, "patch", err)
		if got.DisplayName != "New" || got.Active || got.Revision != 2 || credentials.FormatTime(got.UpdatedAt) != up || got.KeyVersion != "v1" {
			t.Fatalf("patched %+v", got)
		}
		_, err = s.Patch(ctx, "org-b", a.ID, credentials.Patch{UpdatedAt: up})
		kind(t, "patch in another org", err, credentials.NotFound)
		_, err = s.Lock(ctx, "org", a.ID, "t1", time.Now().Add(time.Minute))
		ok(t, "lock", err)
		_, err = s.Patch(ctx, "org", a.ID, credentials.Patch{UpdatedAt: up})
		kind(t, "patch while locked", err, credentials.Conflict)
	})
}

func TestContractLockReplaceFenceUnlock(t *testing.T) {
	implementations(t, func(t *testing.T, s store) {
		ctx := context.Background()
		a := cred("org", "openai", "a")
		ok(t, "create", s.Create(ctx, a))
		_, err := s.Lock(ctx, "org", credentials.NewID(), "t1", time.Now().Add(time.Minute))
		kind(t, "lock a missing credential", err, credentials.NotFound)

		l1, err := s.Lock(ctx, "org", a.ID, "t1", time.Now().Add(time.Minute))
		ok(t, "lock", err)
		if l1.LockToken != "t1" || l1.Revision != 1 {
			t.Fatalf("locked %+v", l1)
		}
		_, err = s.Lock(ctx, "org", a.ID, "t2", time.Now().Add(time.Minute))
		kind(t, "lock while another holds it", err, credentials.Conflict)
		_, err = s.Lock(ctx, "org", a.ID, "t1", time.Now().Add(time.Minute))
		ok(t, "lock again with the same token", err)

		next := l1
		next.KeyVersion, next.Revision = "v2", 2
		kind(t, "replace over a stale revision", s.Replace(ctx, next, 5), credentials.Conflict)
		stranger := next
		stranger.LockToken = "t2"
		kind(t, "replace without the lock", s.Replace(ctx, stranger, 1), credentials.Conflict)
		gone := next
		gone.ID = credentials.NewID()
		kind(t, "replace a missing credential", s.Replace(ctx, gone, 1), credentials.NotFound)
		ok(t, "replace", s.Replace(ctx, next, 1))
		got, err := s.Get(ctx, "org", a.ID)
		ok(t, "get", err)
		want := next
		want.LockToken = ""
		same(t, "after replace", got, want)
		// The replace dropped the lock: another request may take it.
		l2, err := s.Lock(ctx, "org", a.ID, "t2", time.Now().Add(time.Minute))
		ok(t, "lock after the replace", err)

		cur, found, held, err := s.Fence(ctx, l1)
		ok(t, "fence with a lock no longer held", err)
		if !found || held || cur.KeyVersion != "v2" {
			t.Fatalf("fence of t1: found %v held %v %+v; want found, not held", found, held, cur)
		}
		_, found, held, err = s.Fence(ctx, l2)
		ok(t, "fence", err)
		if !found || !held {
			t.Fatalf("fence of t2: found %v held %v; want both", found, held)
		}
		_, found, held, err = s.Fence(ctx, l2)
		ok(t, "fence again (a retry)", err)
		if !found || !held {
			t.Fatalf("second fence of t2: found %v held %v; want both", found, held)
		}
		late := l2
		late.Revision = 3
		kind(t, "a write of the fenced request", s.Replace(ctx, late, 2), credentials.Conflict)
		_, err = s.Lock(ctx, "org", a.ID, "t3", time.Now().Add(time.Minute))
		kind(t, "lock while fenced", err, credentials.Conflict)
		ok(t, "unlock by a stranger", s.Unlock(ctx, l1))
		_, err = s.Lock(ctx, "org", a.ID, "t3", time.Now().Add(time.Minute))
		kind(t, "lock after a stranger's unlock", err, credentials.Conflict)
		ok(t, "unlock without a token", s.Unlock(ctx, credentials.Credential{OrgID: "org", ID: a.ID}))
		ok(t, "unlock", s.Unlock(ctx, l2))
		_, err = s.Patch(ctx, "org", a.ID, credentials.Patch{UpdatedAt: credentials.FormatTime(time.Now())})
		ok(t, "patch after unlock", err)

		// An expired lock is free.
		_, err = s.Lock(ctx, "org", a.ID, "t4", time.Now().Add(-time.Second))
		ok(t, "lock (already expired)", err)
		_, err = s.Lock(ctx, "org", a.ID, "t5", time.Now().Add(time.Minute))
		ok(t, "lock over an expired one", err)

		_, found, held, err = s.Fence(ctx, credentials.Credential{OrgID: "org", ID: credentials.NewID(), LockToken: "t1"})
		ok(t, "fence of a missing credential", err)
		if found || held {
			t.Fatalf("fence of a missing credential: found %v held %v", found, held)
		}
	})
}

func TestContractDelete(t *testing.T) {
	implementations(t, func(t *testing.T, s store) {
		ctx := context.Background()
		a := cred("org", "openai", "a")
		ok(t, "create", s.Create(ctx, a))
		ok(t, "put usage", s.PutUsage(ctx, "org", a.ID, liveusage.Cached{Fingerprint: "f", CheckedAt: time.Now(), Result: []byte(`{}`)}))
		stale := a
		stale.Revision = 7
		kind(t, "delete over a stale revision", s.Delete(ctx, stale), credentials.Conflict)
		l, err := s.Lock(ctx, "org", a.ID, "t1", time.Now().Add(time.Minute))
		ok(t, "lock", err)
		stranger := l
		stranger.LockToken = "t2"
		kind(t, "delete without the lock", s.Delete(ctx, stranger), credentials.Conflict)
		ok(t, "delete", s.Delete(ctx, l))
		_, err = s.Get(ctx, "org", a.ID)
		kind(t, "get after delete", err, credentials.NotFound)
		kind(t, "delete again", s.Delete(ctx, l), credentials.NotFound)
		// The guard and the cached usage went with it.
		ok(t, "create again", s.Create(ctx, a))
		_, u, err := s.GetWithUsage(ctx, "org", a.ID)
		ok(t, "get with usage", err)
		if u != nil {
			t.Fatalf("cached usage survived the delete: %+v", u)
		}
	})
}

func TestContractUsageAndClaims(t *testing.T) {
	implementations(t, func(t *testing.T, s store) {
		ctx := context.Background()
		a, b := cred("org", "openai", "a"), cred("org", "openai", "b")
		b.HasAPIKey, b.SecretName, b.KeyVersion, b.APIKeyLastFour = false, "", "", nil
		ok(t, "create a", s.Create(ctx, a))
		ok(t, "create b", s.Create(ctx, b))
		_, _, err := s.GetWithUsage(ctx, "org", credentials.NewID())
		kind(t, "usage of a missing credential", err, credentials.NotFound)
		c, u, err := s.GetWithUsage(ctx, "org", a.ID)
		ok(t, "get with no usage", err)
		same(t, "get with usage", c, a)
		if u != nil {
			t.Fatalf("usage before any: %+v", u)
		}
		at := time.Date(2026, 5, 20, 1, 2, 3, 456789000, time.UTC)
		put := liveusage.Cached{Fingerprint: a.ProbeFingerprint(), CheckedAt: at, Result: []byte(`{"reachable":true}`), Scheduled: true}
		ok(t, "put usage", s.PutUsage(ctx, "org", a.ID, put))
		_, u, err = s.GetWithUsage(ctx, "org", a.ID)
		ok(t, "get with usage", err)
		if u == nil || u.Fingerprint != put.Fingerprint || !u.CheckedAt.Equal(at) || string(u.Result) != string(put.Result) || !u.Scheduled {
			t.Fatalf("usage %+v, want %+v", u, put)
		}

		refs := []refresh.SecretClaim{
			{OrgID: "org", CredentialID: a.ID, SecretName: a.SecretName},
			{OrgID: "org", CredentialID: a.ID, SecretName: "p/other"},
			{OrgID: "org", CredentialID: b.ID, SecretName: "p/org/b"},
			{OrgID: "org-b", CredentialID: a.ID, SecretName: a.SecretName},
			{OrgID: "org", CredentialID: credentials.NewID(), SecretName: "p/x"},
		}
		claimed, err := s.ClaimedSecrets(ctx, refs)
		ok(t, "claimed secrets", err)
		if len(claimed) != 1 || !claimed[0] {
			t.Fatalf("claimed %v, want only index 0", claimed)
		}
		for i, ref := range refs {
			got, err := s.SecretClaimed(ctx, ref)
			ok(t, "secret claimed", err)
			if got != (i == 0) {
				t.Fatalf("SecretClaimed(%d) = %v", i, got)
			}
		}
		st, err := s.SecretClaimState(ctx, refs[0], time.Now())
		ok(t, "claim state", err)
		if !st.Claimed || st.Locked {
			t.Fatalf("claim state %+v, want claimed, not locked", st)
		}
		until := time.Now().Add(time.Minute)
		_, err = s.Lock(ctx, "org", a.ID, "t1", until)
		ok(t, "lock", err)
		if st, _ := s.SecretClaimState(ctx, refs[0], time.Now()); !st.Claimed || !st.Locked {
			t.Fatalf("claim state while locked %+v", st)
		}
		if st, _ := s.SecretClaimState(ctx, refs[0], until.Add(time.Second)); !st.Claimed || st.Locked {
			t.Fatalf("claim state after the lock expired %+v", st)
		}
	})
}

// keyStore is what both key stores offer.
type keyStore interface {
	credentials.KeyStore
	liveusage.Keys
	refresh.SecretLister
}

func keyImplementations(t *testing.T, run func(t *testing.T, k keyStore)) {
	t.Run("mem", func(t *testing.T) { run(t, mem.NewKeyStore(nil)) })
	t.Run("secrets", func(t *testing.T) {
		if noAWS != "" {
			t.Skip("no emulator:", noAWS)
		}
		env := awstest.New(t)
		ks, err := secrets.New(env.SM, env.SecretPrefix, 7)
		if err != nil {
			t.Fatal(err)
		}
		ks = ks.WithStack(env.StackName)
		run(t, listingStore{ks, secrets.NewLister(ks, env.SM)})
	})
}

// listingStore is the secrets adapter with its lister.
type listingStore struct {
	*secrets.Store
	l *secrets.Lister
}

func (s listingStore) List(ctx context.Context, fn func(refresh.ListedSecret) (bool, error)) error {
	return s.l.List(ctx, fn)
}

func (s listingStore) Describe(ctx context.Context, name string) (refresh.ListedSecret, bool, error) {
	return s.l.Describe(ctx, name)
}

func TestContractKeyStore(t *testing.T) {
	keyImplementations(t, func(t *testing.T, k keyStore) {
		ctx := context.Background()
		id := credentials.NewID()
		name := k.Name("org", id)
		ref := credentials.SecretRef{Name: name, OrgID: "org", CredentialID: id, Provider: "openai"}
		readable := func(what, version, want string) {
			t.Helper()
			got, err := k.Key(ctx, name, version)
			if err != nil || got != want {
				t.Fatalf("%s: key at %s readable %v (%v), want the %s key", what, version, got == want, err, want)
			}
		}
		unreadable := func(what, version string) {
			t.Helper()
			if _, err := k.Key(ctx, name, version); err == nil {
				t.Fatalf("%s: key at %s still readable", what, version)
			}
		}
		v1, err := k.Create(ctx, ref, "first")
		ok(t, "create", err)
		readable("after create", v1, "first")
		v2, err := k.Put(ctx, name, "second")
		ok(t, "put", err)
		if v2 == v1 {
			t.Fatal("put made no new version")
		}
		readable("current after put", v2, "second")
		readable("previous after put", v1, "first")
		readable("current by no version", "", "second")
		ok(t, "revert", k.Revert(ctx, name, v1, v2))
		// Read by version, as the service always does (moto still answers
		// the version-less read with the reverted one).
		readable("after revert", v1, "first")
		readable("the reverted version after revert", v2, "second")
		ok(t, "revert again (a retry that landed)", k.Revert(ctx, name, v1, v2))
		// A put whose answer was lost leaves the label on a version no
		// credential names: a revert to an older version still lands.
		ok(t, "revert forward", k.Revert(ctx, name, v2, v1))
		lost, err := k.Put(ctx, name, "lost")
		ok(t, "put (its answer lost, as far as the service knows)", err)
		ok(t, "revert from a version that lost the label to a put", k.Revert(ctx, name, v1, v2))
		readable("after reverting past a lost put", v1, "first")
		readable("the lost put's version", lost, "lost")
		ok(t, "and forward again", k.Revert(ctx, name, v2, v1))
		readable("forward again", v2, "second")

		ok(t, "schedule delete", k.ScheduleDelete(ctx, name))
		unreadable("scheduled for deletion", v1)
		ok(t, "schedule delete again", k.ScheduleDelete(ctx, name))
		l, found, err := k.Describe(ctx, name)
		ok(t, "describe", err)
		if !found || !l.Deleted || l.OrgID != "org" || l.CredentialID != id {
			t.Fatalf("described %+v (found %v), want scheduled for deletion", l, found)
		}
		ok(t, "restore", k.Restore(ctx, name))
		readable("restored", v1, "first")

		ok(t, "schedule delete", k.ScheduleDelete(ctx, name))
		v3, err := k.Create(ctx, ref, "third")
		ok(t, "create over a secret scheduled for deletion", err)
		readable("re-created", v3, "third")

		listed := 0
		ok(t, "list", k.List(ctx, func(l refresh.ListedSecret) (bool, error) {
			if l.Name == name {
				listed++
				if l.Deleted || l.OrgID != "org" || l.CredentialID != id {
					t.Errorf("listed %+v", l)
				}
			}
			return true, nil
		}))
		if listed != 1 {
			t.Fatalf("listed %d times, want once", listed)
		}

		ok(t, "discard", k.Discard(ctx, name))
		unreadable("discarded", v3)
		ok(t, "discard again", k.Discard(ctx, name))
		if _, found, err := k.Describe(ctx, name); err != nil || found {
			t.Fatalf("described a discarded secret: found %v, %v", found, err)
		}
		if err := k.Restore(ctx, name); err == nil {
			t.Fatal("restored a discarded secret")
		}
	})
}

func TestContractCursors(t *testing.T) {
	implementations(t, func(t *testing.T, s store) {
		cur, isCursors := s.(refresh.Cursors)
		if !isCursors {
			t.Fatal("not refresh.Cursors")
		}
		ctx := context.Background()
		const pos = `{"pk":"a","sk":"CRED#a"}` // a position the adapter can read back
		now := time.Now()
		got, err := cur.AcquireCursor(ctx, 0, 2, "a", now, now.Add(time.Minute))
		ok(t, "first lease", err)
		if got != "" {
			t.Fatalf("first lease: position %q, want the start", got)
		}
		if _, err := cur.AcquireCursor(ctx, 0, 2, "b", now, now.Add(time.Minute)); !errors.Is(err, refresh.ErrLeaseHeld) {
			t.Fatalf("lease while a holds it: %v, want ErrLeaseHeld", err)
		}
		_, err = cur.AcquireCursor(ctx, 1, 2, "b", now, now.Add(time.Minute))
		ok(t, "another segment", err)
		ok(t, "save", cur.SaveCursor(ctx, 0, 2, "a", pos, credentials.FormatTime(now)))
		got, err = cur.AcquireCursor(ctx, 0, 2, "b", now, now.Add(-time.Second)) // a lease that is over at once
		ok(t, "lease after the save", err)
		if got != pos {
			t.Fatalf("position %q, want %q", got, pos)
		}
		if err := cur.SaveCursor(ctx, 0, 2, "a", "", credentials.FormatTime(now)); !errors.Is(err, refresh.ErrLeaseLost) {
			t.Fatalf("save by a run that gave its lease back: %v, want ErrLeaseLost", err)
		}
		got, err = cur.AcquireCursor(ctx, 0, 2, "c", now, now.Add(time.Minute))
		ok(t, "lease over an ended one", err)
		if got != pos {
			t.Fatalf("position %q, want %q", got, pos)
		}
		if err := cur.SaveCursor(ctx, 0, 2, "b", "", credentials.FormatTime(now)); !errors.Is(err, refresh.ErrLeaseLost) {
			t.Fatalf("save after the lease was taken over: %v, want ErrLeaseLost", err)
		}
		got, err = cur.AcquireCursor(ctx, 0, 3, "d", now, now.Add(time.Minute))
		ok(t, "lease under another number of segments", err)
		if got != "" {
			t.Fatalf("position %q under 3 segments, want the start", got)
		}
	})
}

func TestContractHealth(t *testing.T) {
	implementations(t, func(t *testing.T, s store) {
		ctx := context.Background()
		a := cred("org", "openai", "a")
		ok(t, "create", s.Create(ctx, a))
		kind(t, "health of a missing credential", s.PutHealth(ctx, cred("org", "openai", "x"), credentials.Health{Status: credentials.HealthOK}), credentials.NotFound)

		at := time.Now().UTC().Truncate(time.Microsecond)
		code := "invalid_key"
		h := credentials.Health{Status: credentials.HealthFailing, ErrorCode: &code, FailingSince: at.Add(-time.Minute),
			LastOKAt: at.Add(-time.Hour), CheckedAt: at, Fingerprint: a.ProbeFingerprint(), StaleKey: true,
			QuotaLow: &credentials.QuotaLow{Window: "requests", RemainingPct: 9.5, ResetAt: at.Add(time.Hour)}}
		ok(t, "put health", s.PutHealth(ctx, a, h))
		got, err := s.Get(ctx, "org", a.ID)
		ok(t, "get", err)
		want := a
		want.Health = h
		same(t, "get after a health write (revision and updated_at unchanged)", got, want)
		if !reflect.DeepEqual(got.Health, h) {
			t.Fatalf("health read back %+v, want %+v", got.Health, h)
		}
		list, err := s.List(ctx, "org")
		ok(t, "list", err)
		if len(list) != 1 || !reflect.DeepEqual(list[0].Health, h) {
			t.Fatalf("listed health %+v, want %+v", list, h)
		}
		withUsage, _, err := s.GetWithUsage(ctx, "org", a.ID)
		ok(t, "get with usage", err)
		if !reflect.DeepEqual(withUsage.Health, h) {
			t.Fatalf("health with usage %+v, want %+v", withUsage.Health, h)
		}

		// Back to ok: the failing attributes and the marker go.
		healthy := credentials.Health{Status: credentials.HealthOK, LastOKAt: at, CheckedAt: at, Fingerprint: a.ProbeFingerprint()}
		ok(t, "put ok", s.PutHealth(ctx, a, healthy))
		got, _ = s.Get(ctx, "org", a.ID)
		if !reflect.DeepEqual(got.Health, healthy) {
			t.Fatalf("health after ok %+v, want %+v", got.Health, healthy)
		}

		// A credential write carries the health it read.
		a2 := got
		a2.DisplayName, a2.Revision = "renamed", got.Revision+1
		if err := s.Replace(ctx, a2, got.Revision); err != nil {
			// The SDK retries a write whose answer the emulator lost under
			// load; the retry of one that landed is refused. Settle it as
			// the service does: did it land?
			if cur, gerr := s.Get(ctx, "org", a.ID); gerr != nil || cur.Revision != a2.Revision || cur.DisplayName != "renamed" {
				t.Fatalf("replace: %v", err)
			}
		}
		got, _ = s.Get(ctx, "org", a.ID)
		if !reflect.DeepEqual(got.Health, healthy) {
			t.Fatalf("health after a replace %+v, want %+v", got.Health, healthy)
		}
		// A probe of the revision before loses.
		kind(t, "health of a stale revision", s.PutHealth(ctx, a, h), credentials.Conflict)
		// So does one while a request holds the lock.
		l, err := s.Lock(ctx, "org", a.ID, "t1", time.Now().Add(time.Minute))
		ok(t, "lock", err)
		kind(t, "health while locked", s.PutHealth(ctx, got, h), credentials.Conflict)
		ok(t, "unlock", s.Unlock(ctx, l))
		ok(t, "health after unlock", s.PutHealth(ctx, got, h))
		// A dead lock (its request died before unlocking) does not stop a
		// health write, and goes with it: no lock is left for the change
		// events' stream filter to drop the record for.
		dead, err := s.Lock(ctx, "org", a.ID, "dead", time.Now().Add(-time.Second))
		ok(t, "a lock that has already ended", err)
		got.Health = credentials.Health{}
		ok(t, "health over a dead lock", s.PutHealth(ctx, got, h))
		if _, _, held, err := s.Fence(ctx, dead); err != nil || held {
			t.Fatalf("after a health write the dead lock is held %v (%v), want gone", held, err)
		}
		ok(t, "delete", s.Delete(ctx, got))
		kind(t, "health after delete", s.PutHealth(ctx, got, h), credentials.NotFound)
		if _, err := s.Get(ctx, "org", a.ID); credentials.KindOf(err) != credentials.NotFound {
			t.Fatalf("a health write after a delete left an item: %v", err)
		}
	})
}
