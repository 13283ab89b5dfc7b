package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/secrets"
)

// SecretLister lists the secrets under the prefix, a page at a time, and
// reads one again (found false: it no longer exists).
type SecretLister interface {
	List(ctx context.Context, fn func(secrets.Listed) (bool, error)) error
	Describe(ctx context.Context, name string) (l secrets.Listed, found bool, err error)
}

// ClaimChecker says which secrets a credential claims, in bulk and (with a
// consistent read) one at a time; *dynamo.Store is one.
type ClaimChecker interface {
	ClaimedSecrets(ctx context.Context, refs []dynamo.SecretClaim) (map[int]bool, error)
	SecretClaimed(ctx context.Context, ref dynamo.SecretClaim) (bool, error)
}

// SecretDeleter deletes a secret after the recovery window; *secrets.Store is one.
type SecretDeleter interface {
	ScheduleDelete(ctx context.Context, name string) error
}

// SweepOptions tunes a sweep. Zero values take the defaults.
type SweepOptions struct {
	MinAge     time.Duration // only secrets unchanged this long; default 1 h
	MaxDeletes int           // deletions per sweep; default 25
	Now        func() time.Time
	Log        *slog.Logger
}

// SweepStats are the figures of one sweep.
type SweepStats struct {
	Listed  int // secrets under the prefix
	Young   int // unchanged for less than MinAge: not judged
	Foreign int // name not <prefix>/<org>/<credential id>: never deleted
	Orphans int // found unclaimed (up to the cap), the re-check included
	Spared  int // found unclaimed, but claimed, changed or gone when re-checked just before deletion
	Deleted int // scheduled for deletion
	Failed  int // deletions (or their re-checks) that failed
}

// Sweep schedules for deletion (with the key store's recovery window, not
// forced) the secrets under the prefix that no credential claims and that
// have not changed for MinAge: those a crash left between writing a secret
// and writing its credential. A credential claims a secret when it exists,
// has a key and names that secret. At most MaxDeletes go per sweep; the
// rest wait for the next.
//
// The claims are read in bulk first, and a key can be re-added (secret
// restored and written, then the credential) between that read and the
// deletion. So right before each deletion the sweep reads the claiming
// credential again (consistent GetItem), then the secret (DescribeSecret),
// and deletes only if the credential still does not claim it and the
// secret is not scheduled for deletion and neither created nor changed in
// the MinAge before the sweep began. The credential is read first: a
// re-add writes the secret before the credential, so one whose secret
// write comes before the secret's re-read shows in one of the two. What remains is a re-add whose
// secret write lands between the re-read and DeleteSecret (a few
// milliseconds); the deletion is then recoverable for the key store's
// recovery window.
func Sweep(ctx context.Context, list SecretLister, claims ClaimChecker, del SecretDeleter, o SweepOptions) (SweepStats, error) {
	if o.MinAge <= 0 {
		o.MinAge = time.Hour
	}
	if o.MaxDeletes <= 0 {
		o.MaxDeletes = 25
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var st SweepStats
	cutoff := o.Now().Add(-o.MinAge)
	var batch []dynamo.SecretClaim
	capped := false
	flush := func() (bool, error) {
		if len(batch) == 0 || capped {
			return !capped, nil
		}
		claimed, err := claims.ClaimedSecrets(ctx, batch)
		if err != nil {
			return false, err
		}
		for i, ref := range batch {
			if claimed[i] {
				continue
			}
			if st.Deleted+st.Failed >= o.MaxDeletes {
				capped = true
				return false, nil
			}
			if ok, err := recheck(ctx, list, claims, ref, cutoff); err != nil {
				st.Failed++
				o.Log.WarnContext(ctx, "sweep: orphaned secret not deleted: re-check failed", "secret", ref.SecretName, "err", err)
				continue
			} else if !ok {
				st.Spared++
				o.Log.InfoContext(ctx, "sweep: secret spared: claimed or changed since it was listed", "secret", ref.SecretName)
				continue
			}
			st.Orphans++
			if err := del.ScheduleDelete(ctx, ref.SecretName); err != nil {
				st.Failed++
				o.Log.WarnContext(ctx, "sweep: orphaned secret not deleted", "secret", ref.SecretName, "err", err)
				continue
			}
			st.Deleted++
			o.Log.InfoContext(ctx, "sweep: orphaned secret scheduled for deletion", "secret", ref.SecretName)
		}
		batch = batch[:0]
		return st.Deleted+st.Failed < o.MaxDeletes, nil
	}
	err := list.List(ctx, func(l secrets.Listed) (bool, error) {
		st.Listed++
		switch {
		case l.Deleted:
			return true, nil
		case l.OrgID == "":
			st.Foreign++
			return true, nil
		case !l.Changed.Before(cutoff):
			st.Young++
			return true, nil
		}
		batch = append(batch, dynamo.SecretClaim{OrgID: l.OrgID, CredentialID: l.CredentialID, SecretName: l.Name})
		if len(batch) < 100 {
			return true, nil
		}
		return flush()
	})
	if err == nil {
		_, err = flush()
	}
	if err != nil {
		return st, fmt.Errorf("refresh: sweep secrets: %w", err)
	}
	return st, nil
}

// recheck reads ref's credential, then its secret, again; ok is true when
// the secret is still an orphan: unclaimed, not scheduled for deletion, and
// neither created nor changed since cutoff (MinAge before the sweep began:
// a secret listed as old that changed since is caught by the same test,
// whatever the precision of the two calls' dates).
func recheck(ctx context.Context, list SecretLister, claims ClaimChecker, ref dynamo.SecretClaim, cutoff time.Time) (ok bool, err error) {
	claimed, err := claims.SecretClaimed(ctx, ref)
	if err != nil || claimed {
		return false, err
	}
	now, found, err := list.Describe(ctx, ref.SecretName)
	if err != nil || !found {
		return false, err
	}
	return !now.Deleted && now.Changed.Before(cutoff), nil
}

// ListDescribeAPI is the part of the Secrets Manager client the sweep reads with.
type ListDescribeAPI interface {
	secrets.ListAPI
	secrets.DescribeAPI
}

// NewSecretLister lists store's secrets through a client that can list
// and describe.
func NewSecretLister(store *secrets.Store, api ListDescribeAPI) SecretLister {
	return secretList{store: store, api: api}
}

// secretList lists through a Store with a client that can list.
type secretList struct {
	store *secrets.Store
	api   ListDescribeAPI
}

func (l secretList) List(ctx context.Context, fn func(secrets.Listed) (bool, error)) error {
	return l.store.List(ctx, l.api, fn)
}

func (l secretList) Describe(ctx context.Context, name string) (secrets.Listed, bool, error) {
	return l.store.Describe(ctx, l.api, name)
}
