package credentials

import (
	"context"
	"fmt"
	"time"
)

// Key history. Every rotation (a new version of the same secret) records
// the version it replaces, with its last four and the time it was set, on
// the credential item, so that a rollback knows what it restores without
// reading a secret. Secrets Manager keeps that version readable as
// AWSPREVIOUS.
//
// What a rollback does, and what it cannot do:
//   - it makes the previous version current again (AWSPREVIOUS becomes
//     AWSCURRENT, and the rolled-back version AWSPREVIOUS), so a second
//     rollback rolls forward again: the two versions swap;
//   - the restored key keeps the time it was first set as its
//     api_key_updated_at: a rollback does not reset a key's age, so it
//     cannot be used to dodge a rotation policy;
//   - after the key was cleared there is nothing to roll back to (409), and
//     a key set again after clearing starts a new history: the key from
//     before the clear stays gone;
//   - a first key (create, or PATCH on a credential without one) has no
//     predecessor either (409).

// rememberKey updates the key history of c for a change to version of
// secret name, made at c.UpdatedAt: a rotation keeps the current key as
// the previous one; any other change (a first key, a key after clearing)
// starts afresh.
func (c *Credential) rememberKey(name, version string) {
	if c.HasAPIKey && c.SecretName == name && c.KeyVersion != "" && c.KeyVersion != version {
		c.PrevKeyVersion, c.PrevAPIKeyLastFour, c.PrevKeyUpdatedAt = c.KeyVersion, c.APIKeyLastFour, c.KeyUpdatedAt
	} else {
		c.forgetPrevious()
	}
	at := c.UpdatedAt
	c.KeyUpdatedAt = &at
}

func (c *Credential) forgetPrevious() {
	c.PrevKeyVersion, c.PrevAPIKeyLastFour, c.PrevKeyUpdatedAt = "", nil, nil
}

// CanRollBack reports whether c has a previous key to roll back to.
func (c Credential) CanRollBack() bool {
	return c.HasAPIKey && c.SecretName != "" && c.PrevKeyVersion != "" && c.PrevKeyVersion != c.KeyVersion
}

// KeyStale reports whether c's key is older than maxAge at now. A maxAge
// of zero or less turns the check off; a credential without a key, or
// whose key's age is unknown (set before it was recorded), is never stale.
func (c Credential) KeyStale(now time.Time, maxAge time.Duration) bool {
	return maxAge > 0 && c.HasAPIKey && c.KeyUpdatedAt != nil && now.Sub(*c.KeyUpdatedAt) > maxAge
}

func formatOptTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := FormatTime(*t)
	return &s
}

// errNothingToRollBack is the 409 of a rollback without a previous key.
func errNothingToRollBack() *Error {
	return Errorf(Conflict, "The credential has no previous key to roll back to: its key was never rotated, or was cleared since.")
}

// Rollback makes the key that was current before the credential's last key
// change current again, under the credential's lock, as every key write:
// the key store first (the secret's AWSCURRENT label moves back), the
// metadata second; a metadata write that did not land moves the label
// forward again. The key version changes, so every instance's cached key
// and usage result are stale at once.
func (s *Service) Rollback(ctx context.Context, orgID, id string) (Credential, error) {
	fwd, cancel, err := forward(ctx)
	if err != nil {
		return Credential{}, err
	}
	defer cancel()
	c, err := s.lock(fwd, orgID, id)
	if err != nil {
		return Credential{}, err
	}
	out, err := s.rollback(fwd, c, s.now().UTC())
	if err != nil {
		s.unlock(ctx, c)
	}
	return out, err
}

// rollback swaps c's current and previous key; c is locked by this request.
func (s *Service) rollback(ctx context.Context, c Credential, now time.Time) (Credential, error) {
	if !c.CanRollBack() {
		return Credential{}, errNothingToRollBack()
	}
	prev := c
	c.KeyVersion, c.PrevKeyVersion = prev.PrevKeyVersion, prev.KeyVersion
	c.APIKeyLastFour, c.PrevAPIKeyLastFour = prev.PrevAPIKeyLastFour, prev.APIKeyLastFour
	c.KeyUpdatedAt, c.PrevKeyUpdatedAt = prev.PrevKeyUpdatedAt, prev.KeyUpdatedAt
	c.UpdatedAt, _ = time.Parse(TimeLayout, FormatTime(now)) // as stored: microseconds
	if actor := ActorFrom(ctx); actor != "" {
		c.UpdatedBy = actor
	}
	c.Revision++

	// The label may have moved though the answer was lost; the credential
	// still names the version that was current, so move it back there
	// unless another write has moved on meanwhile.
	undo := func(ctx context.Context, st storedState) { s.revertUnlessMovedOn(ctx, st, prev, c.KeyVersion) }
	if err := s.keys.Revert(ctx, c.SecretName, c.KeyVersion, prev.KeyVersion); err != nil {
		return Credential{}, s.settleFailed(ctx, c, fmt.Errorf("roll back credential %s: revert key: %w", c.ID, err), nil, undo)
	}
	if err := s.settleFailed(ctx, c, s.store.Replace(ctx, c, prev.Revision), landedAs(c), undo); err != nil {
		return Credential{}, err
	}
	return c, nil
}

// revertUnlessMovedOn makes prev's key version current again after a
// failed rollback from it to version, if the stored credential still names
// prev's version (unknown: left alone; the credential reads its key by
// version, so a label left on the other version misleads no probe).
func (s *Service) revertUnlessMovedOn(ctx context.Context, st storedState, prev Credential, version string) {
	if st.known && st.found && st.c.HasAPIKey && st.c.SecretName == prev.SecretName && st.c.KeyVersion == prev.KeyVersion {
		s.undo(ctx, "revert secret version after a failed rollback", prev.SecretName, func(ctx context.Context, name string) error {
			return s.keys.Revert(ctx, name, prev.KeyVersion, version)
		})
	}
}
