package refresh

import (
	"context"
	"errors"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/usage"
)

// The ports the refresh runs on, and the values they carry. The refresh
// declares them; the adapters (shared/dynamo, shared/secrets) implement
// them and the in-memory fakes (shared/dev/mem) too.

// Source reads one page of a scan segment after a position ("" = start).
// Every item is returned, credential or not, each with its position;
// dynamo.ScanSource is one.
type Source interface {
	Page(ctx context.Context, seg Segment, after string) (ScanPage, error)
}

// ScanItem is one item of a credentials-table scan, in scan order.
type ScanItem struct {
	// Pos is where a scan resumes to continue after this item (an encoded
	// ExclusiveStartKey).
	Pos string
	// Credential is set when the item is a credential; guards and the
	// refresh cursors leave it nil, as does an item that does not decode
	// (Err says why).
	Credential *credentials.Credential
	Err        error
}

// ScanPage is one page of a (segment of a) scan.
type ScanPage struct {
	Items []ScanItem
	Next  string // "" at the end of the segment
}

// Cursors stores each segment's position between runs, and leases each
// segment to one run at a time; *dynamo.Store is one.
type Cursors interface {
	// AcquireCursor takes the segment's lease for owner until until (a
	// lease that ended before now is free) and returns its position ("" =
	// start); ErrLeaseHeld when another run holds it.
	AcquireCursor(ctx context.Context, segment, total int, owner string, now, until time.Time) (string, error)
	// SaveCursor stores the position and gives back owner's lease;
	// ErrLeaseLost when owner no longer holds it.
	SaveCursor(ctx context.Context, segment, total int, owner, pos, updatedAt string) error
}

// ErrLeaseHeld is AcquireCursor's answer when another run holds the
// segment's lease; ErrLeaseLost is SaveCursor's when this run's lease has
// expired and another run has taken it (the cursor is then that run's).
var (
	ErrLeaseHeld = errors.New("refresh: segment leased by another run")
	ErrLeaseLost = errors.New("refresh: lease lost to another run")
)

// Refresher probes a credential with its stored key and caches the result;
// *liveusage.Service is one. The result stands even when err (caching) is set.
type Refresher interface {
	Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error)
}

// SecretLister lists the secrets under the prefix, those scheduled for
// deletion included, a page at a time, and reads one again (found false:
// it no longer exists); *secrets.Lister is one.
type SecretLister interface {
	List(ctx context.Context, fn func(ListedSecret) (bool, error)) error
	Describe(ctx context.Context, name string) (l ListedSecret, found bool, err error)
}

// ListedSecret is a secret found under the prefix.
type ListedSecret struct {
	Name         string
	OrgID        string // from the name; "" when the name is not <prefix>/<org>/<id>
	CredentialID string
	Changed      time.Time // the later of the secret's creation and its last change
	Deleted      bool      // scheduled for deletion
	// DeletedAt is when the deletion was requested (zero unless Deleted).
	DeletedAt time.Time
	// Owned: tagged with this deployment's stack. List lists only those;
	// Describe says, so that a re-check before a deletion or a restore
	// sees a secret that is not this stack's.
	Owned bool
}

// ClaimChecker says which secrets a credential claims, in bulk and (with a
// consistent read) one at a time, the latter also whether the credential
// is locked; *dynamo.Store is one.
type ClaimChecker interface {
	// ClaimedSecrets returns the indexes in refs of the claimed ones.
	ClaimedSecrets(ctx context.Context, refs []SecretClaim) (map[int]bool, error)
	SecretClaimed(ctx context.Context, ref SecretClaim) (bool, error)
	SecretClaimState(ctx context.Context, ref SecretClaim, at time.Time) (ClaimState, error)
}

// SecretClaim asks whether a credential names a secret as its key.
type SecretClaim struct {
	OrgID, CredentialID string
	SecretName          string
}

// ClaimState is what a consistent read of a secret's credential says.
type ClaimState struct {
	// Claimed: the credential exists, has a key and names the secret.
	Claimed bool
	// Locked: a request holds the credential's key lock (not expired at
	// the time asked about), so it may be about to change the key or
	// delete the credential.
	Locked bool
}

// SecretDeleter deletes a secret after the recovery window, and cancels a
// scheduled deletion; *secrets.Store is one.
type SecretDeleter interface {
	ScheduleDelete(ctx context.Context, name string) error
	Restore(ctx context.Context, name string) error
}
