package mem

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
)

// Store is an in-memory credentials.Store with the usage cache
// (liveusage.Store) and the refresh's claim checks, semantics as
// shared/dynamo's Store: a uniqueness guard per (org, provider, account
// key), a revision every write checks, and the key lock with its fenced
// form. Times round-trip as stored (microseconds, UTC).
type Store struct {
	Faults *Faults          // nil: nothing fails
	Now    func() time.Time // the lock's clock; default time.Now

	mu      sync.Mutex
	creds   map[ckey]*item
	guards  map[gkey]string // → credential id
	usage   map[ckey]liveusage.Cached
	cursors map[[2]int]cursor // by segment and number of segments
}

type ckey struct{ org, id string }

type gkey struct{ org, provider, account string }

type item struct {
	c         credentials.Credential // LockToken always ""
	lock      string
	lockUntil time.Time
}

var (
	_ credentials.Store    = (*Store)(nil)
	_ liveusage.Store      = (*Store)(nil)
	_ refresh.ClaimChecker = (*Store)(nil)
)

// NewStore returns an empty Store failing as faults says (nil: never).
func NewStore(faults *Faults) *Store {
	return &Store{Faults: faults, creds: map[ckey]*item{}, guards: map[gkey]string{}, usage: map[ckey]liveusage.Cached{}, cursors: map[[2]int]cursor{}}
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// stored is c as the table keeps it: no lock token, times at microseconds.
func stored(c credentials.Credential) credentials.Credential {
	c.LockToken = ""
	c.CreatedAt, c.UpdatedAt = roundTrip(c.CreatedAt), roundTrip(c.UpdatedAt)
	c.Health = storedHealth(c.Health)
	c.KeyUpdatedAt, c.PrevKeyUpdatedAt = roundTripPtr(c.KeyUpdatedAt), roundTripPtr(c.PrevKeyUpdatedAt)
	return c
}

func roundTripPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	r := roundTrip(*t)
	return &r
}

func roundTrip(t time.Time) time.Time {
	r, err := time.Parse(time.RFC3339Nano, credentials.FormatTime(t))
	if err != nil {
		return t
	}
	return r
}

func (it *item) locked(now time.Time) bool { return it.lock != "" && !it.lockUntil.Before(now) }

// List returns the organisation's credentials.
func (s *Store) List(_ context.Context, orgID string) ([]credentials.Credential, error) {
	var out []credentials.Credential
	err := s.Faults.do("Store.List", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for k, it := range s.creds {
			if k.org == orgID {
				out = append(out, it.c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns one credential, or NotFound.
func (s *Store) Get(_ context.Context, orgID, id string) (credentials.Credential, error) {
	var c credentials.Credential
	err := s.Faults.do("Store.Get", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		it, ok := s.creds[ckey{orgID, id}]
		if !ok {
			return credentials.ErrNotFound()
		}
		c = it.c
		return nil
	})
	if err != nil {
		return credentials.Credential{}, err
	}
	return c, nil
}

// Create stores c and its guard; a retry of a create that landed is a
// success, a guard held by another credential a Conflict.
func (s *Store) Create(_ context.Context, c credentials.Credential) error {
	return s.Faults.do("Store.Create", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		k, g := ckey{c.OrgID, c.ID}, gkey{c.OrgID, c.Provider, c.AccountKey}
		if _, ok := s.creds[k]; ok {
			return nil
		}
		if _, ok := s.guards[g]; ok {
			return credentials.Errorf(credentials.Conflict,
				"A '%s' credential with account key '%s' already exists.", c.Provider, c.AccountKey)
		}
		s.guards[g] = c.ID
		s.creds[k] = &item{c: stored(c)}
		return nil
	})
}

// Patch changes display name and active flag unless the credential is
// locked (Conflict) or gone (NotFound).
func (s *Store) Patch(_ context.Context, orgID, id string, p credentials.Patch) (credentials.Credential, error) {
	var c credentials.Credential
	err := s.Faults.do("Store.Patch", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		it, ok := s.creds[ckey{orgID, id}]
		if !ok {
			return credentials.ErrNotFound()
		}
		if it.locked(s.now()) {
			return credentials.Errorf(credentials.Conflict, "The credential is being changed by another request; retry.")
		}
		if p.DisplayName != nil {
			it.c.DisplayName = *p.DisplayName
		}
		if p.Active != nil {
			it.c.Active = *p.Active
		}
		if t, err := time.Parse(time.RFC3339Nano, p.UpdatedAt); err == nil {
			it.c.UpdatedAt = t
		}
		it.c.Revision++
		c = it.c
		return nil
	})
	if err != nil {
		return credentials.Credential{}, err
	}
	return c, nil
}

// guarded is the condition of a write over c: the revision it read and
// the lock it holds, if any.
func guarded(it *item, c credentials.Credential, prevRevision int64) bool {
	return it.c.Revision == prevRevision && (c.LockToken == "" || it.lock == c.LockToken)
}

// Replace writes c over revision prevRevision, dropping the lock.
func (s *Store) Replace(_ context.Context, c credentials.Credential, prevRevision int64) error {
	return s.Faults.do("Store.Replace", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		it, ok := s.creds[ckey{c.OrgID, c.ID}]
		if !ok {
			return credentials.ErrNotFound()
		}
		if !guarded(it, c, prevRevision) {
			return credentials.Errorf(credentials.Conflict, "The credential was changed concurrently; retry.")
		}
		*it = item{c: stored(c)}
		return nil
	})
}

// Delete removes c, its guard and its cached usage.
func (s *Store) Delete(_ context.Context, c credentials.Credential) error {
	return s.Faults.do("Store.Delete", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := ckey{c.OrgID, c.ID}
		it, ok := s.creds[k]
		if !ok {
			return credentials.ErrNotFound()
		}
		if !guarded(it, c, c.Revision) {
			return credentials.Errorf(credentials.Conflict, "The credential was changed concurrently; retry.")
		}
		delete(s.creds, k)
		delete(s.guards, gkey{c.OrgID, c.Provider, c.AccountKey})
		delete(s.usage, k)
		return nil
	})
}

// Lock takes the credential's lock for token until until: free when unset
// or expired, or already token's.
func (s *Store) Lock(_ context.Context, orgID, id, token string, until time.Time) (credentials.Credential, error) {
	var c credentials.Credential
	err := s.Faults.do("Store.Lock", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		it, ok := s.creds[ckey{orgID, id}]
		if !ok {
			return credentials.ErrNotFound()
		}
		if it.locked(s.now()) && it.lock != token {
			return credentials.Errorf(credentials.Conflict, "credential %s is locked", id)
		}
		it.lock, it.lockUntil = token, until
		c = it.c
		c.LockToken = token
		return nil
	})
	if err != nil {
		return credentials.Credential{}, err
	}
	return c, nil
}

func fenced(token string) string { return token + "/fenced" }

// Fence turns c's lock into its fenced form; see credentials.Store.
func (s *Store) Fence(_ context.Context, c credentials.Credential) (cur credentials.Credential, found, held bool, err error) {
	err = s.Faults.do("Store.Fence", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		it, ok := s.creds[ckey{c.OrgID, c.ID}]
		if !ok {
			cur, found, held = credentials.Credential{}, false, false
			return nil
		}
		cur, found = it.c, true
		switch {
		case c.LockToken != "" && it.lock == c.LockToken:
			it.lock, held = fenced(c.LockToken), true
		default:
			// A fence whose answer was lost, asked again: still held.
			held = c.LockToken != "" && it.lock == fenced(c.LockToken)
		}
		return nil
	})
	if err != nil {
		return credentials.Credential{}, false, false, err
	}
	return cur, found, held, nil
}

// Unlock drops c's lock, fenced or not, if c still holds it.
func (s *Store) Unlock(_ context.Context, c credentials.Credential) error {
	if c.LockToken == "" {
		return nil
	}
	return s.Faults.do("Store.Unlock", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if it, ok := s.creds[ckey{c.OrgID, c.ID}]; ok && (it.lock == c.LockToken || it.lock == fenced(c.LockToken)) {
			it.lock, it.lockUntil = "", time.Time{}
		}
		return nil
	})
}

// GetWithUsage returns a credential and its cached usage (nil when none).
func (s *Store) GetWithUsage(_ context.Context, orgID, id string) (credentials.Credential, *liveusage.Cached, error) {
	var c credentials.Credential
	var u *liveusage.Cached
	err := s.Faults.do("Store.GetWithUsage", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := ckey{orgID, id}
		it, ok := s.creds[k]
		if !ok {
			return credentials.ErrNotFound()
		}
		c = it.c
		if cached, ok := s.usage[k]; ok {
			cached.Result = slices.Clone(cached.Result)
			u = &cached
		}
		return nil
	})
	if err != nil {
		return credentials.Credential{}, nil, err
	}
	return c, u, nil
}

// PutUsage stores a probe result.
func (s *Store) PutUsage(_ context.Context, orgID, id string, u liveusage.Cached) error {
	return s.Faults.do("Store.PutUsage", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		u.Result = slices.Clone(u.Result)
		u.CheckedAt = roundTrip(u.CheckedAt)
		s.usage[ckey{orgID, id}] = u
		return nil
	})
}

// PutHealth writes h as c's health if c is still at its revision and
// unlocked: Conflict otherwise, NotFound when gone. Nothing else changes.
func (s *Store) PutHealth(_ context.Context, c credentials.Credential, h credentials.Health) error {
	return s.Faults.do("Store.PutHealth", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		it, ok := s.creds[ckey{c.OrgID, c.ID}]
		if !ok {
			return credentials.ErrNotFound()
		}
		if it.c.Revision != c.Revision || it.locked(s.now()) {
			return credentials.Errorf(credentials.Conflict, "credential %s changed since it was probed", c.ID)
		}
		it.c.Health = storedHealth(h)
		it.lock, it.lockUntil = "", time.Time{} // a dead lock goes with it, as in the adapter
		return nil
	})
}

// storedHealth is h as the table keeps it: unknown stores nothing, times
// at microseconds.
func storedHealth(h credentials.Health) credentials.Health {
	if h.Status == "" || h.Status == credentials.HealthUnknown {
		return credentials.Health{}
	}
	if h.ErrorCode != nil {
		code := *h.ErrorCode
		h.ErrorCode = &code
	}
	for _, t := range []*time.Time{&h.FailingSince, &h.LastOKAt, &h.CheckedAt} {
		if !t.IsZero() {
			*t = roundTrip(*t)
		}
	}
	if h.QuotaLow != nil {
		q := *h.QuotaLow
		q.ResetAt = roundTrip(q.ResetAt)
		h.QuotaLow = &q
	}
	return h
}

// ClaimedSecrets returns the indexes of refs whose credential claims them.
func (s *Store) ClaimedSecrets(_ context.Context, refs []refresh.SecretClaim) (map[int]bool, error) {
	claimed := map[int]bool{}
	err := s.Faults.do("Store.ClaimedSecrets", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, r := range refs {
			if it, ok := s.creds[ckey{r.OrgID, r.CredentialID}]; ok && it.c.HasAPIKey && it.c.SecretName == r.SecretName {
				claimed[i] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// SecretClaimed reports whether ref's credential claims its secret.
func (s *Store) SecretClaimed(ctx context.Context, ref refresh.SecretClaim) (bool, error) {
	st, err := s.SecretClaimState(ctx, ref, s.now())
	return st.Claimed, err
}

// SecretClaimState reports whether ref's credential claims its secret and
// is locked at at.
func (s *Store) SecretClaimState(_ context.Context, ref refresh.SecretClaim, at time.Time) (refresh.ClaimState, error) {
	var st refresh.ClaimState
	err := s.Faults.do("Store.SecretClaimState", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if it, ok := s.creds[ckey{ref.OrgID, ref.CredentialID}]; ok {
			st.Claimed = it.c.HasAPIKey && it.c.SecretName == ref.SecretName
			st.Locked = it.locked(at)
		}
		return nil
	})
	return st, err
}

// All returns every credential of every organisation, sorted by org and
// id, with LockToken set to the lock held (fenced or not), for checks.
func (s *Store) All() []credentials.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]credentials.Credential, 0, len(s.creds))
	for _, it := range s.creds {
		c := it.c
		c.LockToken = it.lock
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b credentials.Credential) int {
		return cmp.Or(cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Guards returns how many uniqueness guards are stored.
func (s *Store) Guards() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.guards)
}
