package credentials

import (
	"context"
	"time"
)

// Store keeps credential metadata. Every method names the organisation, so
// one organisation's items can never be reached from another's requests.
type Store interface {
	// List returns the organisation's credentials in any order.
	List(ctx context.Context, orgID string) ([]Credential, error)
	// Get returns one credential, or an error of kind NotFound.
	Get(ctx context.Context, orgID, id string) (Credential, error)
	// Create stores a new credential; kind Conflict when the organisation
	// already has one for the same provider and account key.
	Create(ctx context.Context, c Credential) error
	// Patch applies p to an existing credential in one conditional write and
	// returns the result; kind NotFound when there is none.
	Patch(ctx context.Context, orgID, id string, p Patch) (Credential, error)
	// Lock reads a credential and marks it as being changed by token until
	// the given time, in one conditional write; kind Conflict while another
	// token holds it, NotFound when there is none. Key changes and deletes
	// lock first, so only one request at a time works on a credential's
	// secret. Retrying with the same token succeeds.
	Lock(ctx context.Context, orgID, id, token string, until time.Time) (Credential, error)
	// Fence, after a failed write of c, reads the credential and makes sure
	// no write of c still in flight can land: if c still holds the lock
	// (none of its writes landed), the lock is changed to a form c's writes
	// are not conditioned on, and held is true. found is false when the
	// credential is gone.
	Fence(ctx context.Context, c Credential) (cur Credential, found, held bool, err error)
	// Unlock drops c's lock, fenced or not, if c still holds it.
	Unlock(ctx context.Context, c Credential) error
	// Replace writes c over the stored credential if its revision is still
	// prevRevision and, when c.LockToken is set, c still holds the lock
	// (which the write drops); kind Conflict when it changed, NotFound when
	// it is gone.
	Replace(ctx context.Context, c Credential, prevRevision int64) error
	// Delete removes c, its uniqueness guard and its cached usage if c's
	// revision is unchanged and, when c.LockToken is set, c holds the lock;
	// kind Conflict when it changed, NotFound when gone.
	Delete(ctx context.Context, c Credential) error
}

// Patch is a change to the fields that need no read first.
type Patch struct {
	DisplayName *string
	Active      *bool
	UpdatedAt   string // FormatTime of the update
	UpdatedBy   string // the actor (ActorFrom); "" leaves updated_by as it is
}

// SecretRef names a credential's secret and what to tag it with.
type SecretRef struct {
	Name         string
	OrgID        string
	CredentialID string
	Provider     string
}

// KeyStore keeps API keys, one secret per credential. Versions are the key
// store's own version ids; a credential records the one it uses.
type KeyStore interface {
	// Name returns the secret name for a credential. credentialID may end
	// in ".<generation>": a key set again after it was cleared gets a
	// secret of its own; the name still belongs to the credential.
	Name(orgID, credentialID string) string
	// Create stores the first key of a credential's secret. If a secret of
	// that name is scheduled for deletion, it is restored and given the new
	// key (the service names a key set again after a clear anew, so this
	// is only a safety net).
	Create(ctx context.Context, ref SecretRef, apiKey string) (version string, err error)
	// Put stores a new key in an existing secret.
	Put(ctx context.Context, name, apiKey string) (version string, err error)
	// Revert makes version to current again after a failed update made
	// version from current (compensation), or, for a rollback, makes the
	// previous version to current again in place of from.
	Revert(ctx context.Context, name, to, from string) error
	// Discard deletes a secret no credential refers to, at once (compensation).
	Discard(ctx context.Context, name string) error
	// ScheduleDelete deletes a secret after the recovery window.
	ScheduleDelete(ctx context.Context, name string) error
	// Restore cancels a scheduled deletion (compensation).
	Restore(ctx context.Context, name string) error
}
