package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/secrets"
)

// SecretLister lists the secrets under the prefix, a page at a time.
type SecretLister interface {
	List(ctx context.Context, fn func(secrets.Listed) (bool, error)) error
}

// ClaimChecker says which secrets a credential claims; *dynamo.Store is one.
type ClaimChecker interface {
	ClaimedSecrets(ctx context.Context, refs []dynamo.SecretClaim) (map[int]bool, error)
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
	Orphans int // found unclaimed (up to the cap)
	Deleted int // scheduled for deletion
	Failed  int // deletions that failed
}

// Sweep schedules for deletion (with the key store's recovery window, not
// forced) the secrets under the prefix that no credential claims and that
// have not changed for MinAge: those a crash left between writing a secret
// and writing its credential. A credential claims a secret when it exists,
// has a key and names that secret. At most MaxDeletes go per sweep; the
// rest wait for the next.
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

// NewSecretLister lists store's secrets through a client that can list.
func NewSecretLister(store *secrets.Store, api secrets.ListAPI) SecretLister {
	return secretList{store: store, api: api}
}

// secretList lists through a Store with a client that can list.
type secretList struct {
	store *secrets.Store
	api   secrets.ListAPI
}

func (l secretList) List(ctx context.Context, fn func(secrets.Listed) (bool, error)) error {
	return l.store.List(ctx, l.api, fn)
}
