package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// SweepOptions tunes a sweep. Zero values take the defaults.
type SweepOptions struct {
	MinAge     time.Duration // only secrets unchanged this long are deleted; default 1 h
	MaxDeletes int           // deletions per sweep; default 25
	// RestoreAfter: a scheduled deletion is undone only once it was
	// requested this long ago; default 5 min, longer than any request
	// (API functions time out after 29 s, their key lock after 60 s).
	RestoreAfter time.Duration
	MaxRestores  int // restores per sweep, a cap of their own; default 25
	Now          func() time.Time
	Log          *slog.Logger
}

// SweepStats are the figures of one sweep.
type SweepStats struct {
	Listed  int // secrets under the prefix, those scheduled for deletion included
	Young   int // live, unchanged for less than MinAge: not judged
	Foreign int // name not <prefix>/<org>/<credential id>: never deleted or restored
	Orphans int // found unclaimed (up to the cap), the re-check included
	Spared  int // found unclaimed, but claimed, changed or gone when re-checked just before deletion
	Deleted int // scheduled for deletion
	Failed  int // deletions (or their re-checks) that failed

	Pending       int // listed secrets scheduled for deletion
	Restored      int // scheduled for deletion though their credential still claims them: deletion cancelled
	RestoreHeld   int // claimed in the bulk check, but when re-checked locked, no longer claimed, or no longer an old scheduled deletion: left alone
	RestoreFailed int // restores (or their re-checks) that failed

	// RestoredNames are the secrets restored: a probe of their credential
	// earlier in the same run could not read the key, and is made again.
	RestoredNames []string
}

// Sweep repairs the two ways the credentials table and the key store can
// disagree when a function dies between its two writes (a timeout kills it
// before its compensation runs).
//
// It lists, and touches, only this stack's secrets: under its prefix and
// tagged with its stack (SecretLister.List filters on both), and each
// re-check before a deletion or a restore reads the tag again, so a
// secret of another deployment is never deleted or restored, even one
// that shares the prefix.
//
// Orphans: it schedules for deletion (with the key store's recovery
// window, not forced) the secrets under the prefix that no credential
// claims and that have not changed for MinAge: those a crash left between
// writing a secret and writing its credential. A credential claims a
// secret when it exists, has a key and names that secret. At most
// MaxDeletes go per sweep; the rest wait for the next.
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
//
// Lost keys: clearing a key and deleting a credential schedule the
// secret's deletion first, then write the credential. A function killed
// in between leaves a credential that still claims a secret scheduled for
// deletion, and the key is lost for good after the recovery window. The
// sweep restores (RestoreSecret) such secrets: scheduled for deletion at
// least RestoreAfter ago, still claimed when their credential is read
// again (consistent GetItem) and the credential not locked (a request that
// holds the lock may be about to write the credential; a lock past its
// key_lock_until is a dead request's), and, read again, still scheduled
// at least RestoreAfter ago. At most MaxRestores per sweep. A scheduled
// secret no credential claims is being deleted as asked and is left alone.
// Should a request lock the credential and clear its key after the
// re-read but before RestoreSecret, the secret comes back unclaimed: an
// orphan, which a later sweep deletes; a key is never lost that way.
func Sweep(ctx context.Context, list SecretLister, claims ClaimChecker, del SecretDeleter, o SweepOptions) (SweepStats, error) {
	o = o.withDefaults()
	now := o.Now()
	sw := &sweeper{
		list: list, claims: claims, del: del, o: o,
		now: now, cutoff: now.Add(-o.MinAge), restoreCutoff: now.Add(-o.RestoreAfter),
	}
	err := list.List(ctx, func(l ListedSecret) (bool, error) { return sw.visit(ctx, l) })
	if err == nil {
		err = sw.flushPending(ctx)
	}
	if err == nil {
		err = sw.flushOrphans(ctx)
	}
	if err != nil {
		return sw.st, fmt.Errorf("refresh: sweep secrets: %w", err)
	}
	return sw.st, nil
}

func (o SweepOptions) withDefaults() SweepOptions {
	if o.MinAge <= 0 {
		o.MinAge = time.Hour
	}
	if o.MaxDeletes <= 0 {
		o.MaxDeletes = 25
	}
	if o.RestoreAfter <= 0 {
		o.RestoreAfter = 5 * time.Minute
	}
	if o.MaxRestores <= 0 {
		o.MaxRestores = 25
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// sweeper is one sweep: the secrets listed so far that may be orphans or
// lost keys, judged a batch (up to 100) at a time.
type sweeper struct {
	list   SecretLister
	claims ClaimChecker
	del    SecretDeleter
	o      SweepOptions

	now, cutoff, restoreCutoff    time.Time
	st                            SweepStats
	orphans, pending              []SecretClaim
	deletesCapped, restoresCapped bool
}

// visit sorts one listed secret; false when both caps are reached.
func (sw *sweeper) visit(ctx context.Context, l ListedSecret) (bool, error) {
	sw.st.Listed++
	if l.Deleted {
		sw.st.Pending++
	}
	ref := SecretClaim{OrgID: l.OrgID, CredentialID: l.CredentialID, SecretName: l.Name}
	switch {
	case l.OrgID == "":
		sw.st.Foreign++
	case l.Deleted:
		// Deletion requested less than RestoreAfter ago: the request
		// may still be writing the credential.
		if !sw.restoresCapped && l.DeletedAt.Before(sw.restoreCutoff) {
			if sw.pending = append(sw.pending, ref); len(sw.pending) >= 100 {
				if err := sw.flushPending(ctx); err != nil {
					return false, err
				}
			}
		}
	case !l.Changed.Before(sw.cutoff):
		sw.st.Young++
	case !sw.deletesCapped:
		if sw.orphans = append(sw.orphans, ref); len(sw.orphans) >= 100 {
			if err := sw.flushOrphans(ctx); err != nil {
				return false, err
			}
		}
	}
	return !sw.deletesCapped || !sw.restoresCapped, nil
}

// flushOrphans schedules for deletion the batch's secrets that no
// credential claims, each re-checked first, up to MaxDeletes.
func (sw *sweeper) flushOrphans(ctx context.Context) error {
	if len(sw.orphans) == 0 || sw.deletesCapped {
		return nil
	}
	defer func() { sw.orphans = sw.orphans[:0] }()
	st, o := &sw.st, sw.o
	claimed, err := sw.claims.ClaimedSecrets(ctx, sw.orphans)
	if err != nil {
		return err
	}
	for i, ref := range sw.orphans {
		if claimed[i] {
			continue
		}
		if st.Deleted+st.Failed >= o.MaxDeletes {
			sw.deletesCapped = true
			return nil
		}
		if ok, err := recheck(ctx, sw.list, sw.claims, ref, sw.cutoff); err != nil {
			st.Failed++
			o.Log.WarnContext(ctx, "sweep: orphaned secret not deleted: re-check failed", "secret", ref.SecretName, "err", err)
			continue
		} else if !ok {
			st.Spared++
			o.Log.InfoContext(ctx, "sweep: secret spared: claimed or changed since it was listed", "secret", ref.SecretName)
			continue
		}
		st.Orphans++
		if err := sw.del.ScheduleDelete(ctx, ref.SecretName); err != nil {
			st.Failed++
			o.Log.WarnContext(ctx, "sweep: orphaned secret not deleted", "secret", ref.SecretName, "err", err)
			continue
		}
		st.Deleted++
		o.Log.InfoContext(ctx, "sweep: orphaned secret scheduled for deletion", "secret", ref.SecretName)
	}
	sw.deletesCapped = st.Deleted+st.Failed >= o.MaxDeletes
	return nil
}

// flushPending restores the batch's secrets scheduled for deletion that
// their credential still claims, each re-checked first, up to MaxRestores.
func (sw *sweeper) flushPending(ctx context.Context) error {
	if len(sw.pending) == 0 || sw.restoresCapped {
		return nil
	}
	defer func() { sw.pending = sw.pending[:0] }()
	st, o := &sw.st, sw.o
	claimed, err := sw.claims.ClaimedSecrets(ctx, sw.pending)
	if err != nil {
		return err
	}
	for i, ref := range sw.pending {
		if !claimed[i] {
			continue // being deleted as asked
		}
		if st.Restored+st.RestoreFailed >= o.MaxRestores {
			sw.restoresCapped = true
			return nil
		}
		why, err := recheckRestore(ctx, sw.list, sw.claims, ref, sw.now, sw.restoreCutoff)
		if err != nil {
			st.RestoreFailed++
			o.Log.WarnContext(ctx, "sweep: claimed secret scheduled for deletion not restored: re-check failed", "secret", ref.SecretName, "err", err)
			continue
		} else if why != "" {
			st.RestoreHeld++
			o.Log.InfoContext(ctx, "sweep: claimed secret scheduled for deletion left alone: "+why, "secret", ref.SecretName)
			continue
		}
		if err := sw.del.Restore(ctx, ref.SecretName); err != nil {
			st.RestoreFailed++
			o.Log.ErrorContext(ctx, "sweep: claimed secret scheduled for deletion not restored", "secret", ref.SecretName, "err", err)
			continue
		}
		st.Restored++
		st.RestoredNames = append(st.RestoredNames, ref.SecretName)
		o.Log.WarnContext(ctx, "sweep: restored a secret scheduled for deletion that its credential still claims (a request died between the two writes)",
			"secret", ref.SecretName, "org", ref.OrgID, "credential", ref.CredentialID)
	}
	sw.restoresCapped = st.Restored+st.RestoreFailed >= o.MaxRestores
	return nil
}

// recheckRestore reads ref's credential, then its secret, again before a
// restore; why is "" when the secret is still to be restored, else the
// reason it is left alone.
func recheckRestore(ctx context.Context, list SecretLister, claims ClaimChecker, ref SecretClaim, now, cutoff time.Time) (why string, err error) {
	cs, err := claims.SecretClaimState(ctx, ref, now)
	switch {
	case err != nil:
		return "", err
	case !cs.Claimed:
		return "no longer claimed", nil
	case cs.Locked:
		return "credential locked by a request in flight", nil
	}
	l, found, err := list.Describe(ctx, ref.SecretName)
	switch {
	case err != nil:
		return "", err
	case !found || !l.Deleted:
		return "no longer scheduled for deletion", nil
	case !l.Owned:
		return "not tagged with this stack", nil
	case !l.DeletedAt.Before(cutoff):
		return "deletion requested again since it was listed", nil
	}
	return "", nil
}

// recheck reads ref's credential, then its secret, again; ok is true when
// the secret is still an orphan: unclaimed, not scheduled for deletion, and
// neither created nor changed since cutoff (MinAge before the sweep began:
// a secret listed as old that changed since is caught by the same test,
// whatever the precision of the two calls' dates).
func recheck(ctx context.Context, list SecretLister, claims ClaimChecker, ref SecretClaim, cutoff time.Time) (ok bool, err error) {
	claimed, err := claims.SecretClaimed(ctx, ref)
	if err != nil || claimed {
		return false, err
	}
	now, found, err := list.Describe(ctx, ref.SecretName)
	if err != nil || !found {
		return false, err
	}
	return now.Owned && !now.Deleted && now.Changed.Before(cutoff), nil
}
