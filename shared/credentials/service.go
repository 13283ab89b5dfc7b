package credentials

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"
)

// Service carries out the credential rules over a Store and a KeyStore.
// Writes keep the two stores in agreement: the key store is written first,
// the metadata second, and a failed metadata write undoes the key store
// write. A compensation that fails itself is logged; the scheduled refresh
// sweeps what it leaves.
type Service struct {
	store        Store
	keys         KeyStore // nil for read-only functions
	checkBaseURL BaseURLCheck
	verifier     Verifier // nil: ?verify=true is not served (verify.go)
	now          func() time.Time
	log          *slog.Logger
}

// Options are a Service's optional dependencies. Zero values take the
// defaults.
type Options struct {
	Keys         KeyStore         // nil for read-only functions; routes that write keys need one
	BaseURLCheck BaseURLCheck     // the base URL validator; nil accepts any
	Verifier     Verifier         // probes keys for ?verify=true (create, update); nil: not served
	Now          func() time.Time // default time.Now
	Log          *slog.Logger     // for failed compensations; default slog.Default()
}

// NewService returns a Service over store.
func NewService(store Store, opts Options) *Service {
	s := &Service{store: store, keys: opts.Keys, checkBaseURL: opts.BaseURLCheck, verifier: opts.Verifier, now: opts.Now, log: opts.Log}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// CheckBaseURL returns the service's base URL validator.
func (s *Service) CheckBaseURL() BaseURLCheck { return s.checkBaseURL }

// List returns the organisation's credentials sorted by provider, then
// account key.
func (s *Service) List(ctx context.Context, orgID string) ([]Credential, error) {
	list, err := s.store.List(ctx, orgID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b Credential) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.AccountKey, b.AccountKey))
	})
	return list, nil
}

// Get returns one credential of the organisation.
func (s *Service) Get(ctx context.Context, orgID, id string) (Credential, error) {
	return s.store.Get(ctx, orgID, id)
}

// Create validates in and stores a new credential, its key first.
func (s *Service) Create(ctx context.Context, orgID string, in CreateInput) (Credential, error) {
	in, display, err := s.checkCreate(in)
	if err != nil {
		return Credential{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond) // as stored, so a re-read can tell the write landed
	c := Credential{
		ID: NewID(), OrgID: orgID, Provider: in.Provider, AccountKey: in.AccountKey,
		DisplayName: display, BaseURL: in.BaseURL, Active: in.Active == nil || *in.Active,
		CreatedAt: now, UpdatedAt: now, Revision: 1,
		CreatedBy: ActorFrom(ctx), UpdatedBy: ActorFrom(ctx),
	}
	if in.APIKey == nil {
		return c, s.store.Create(ctx, c)
	}
	ctx, cancel, err := forward(ctx)
	if err != nil {
		return Credential{}, err
	}
	defer cancel()
	ref := s.ref(c)
	version, err := s.keys.Create(ctx, ref, *in.APIKey)
	if err != nil {
		// The secret may exist though the answer was lost. Its name holds
		// the new id, so no credential can claim it.
		s.undo(ctx, "discard secret of a failed create", ref.Name, s.keys.Discard)
		return Credential{}, fmt.Errorf("create credential: store key: %w", err)
	}
	c.setKey(ref.Name, version, *in.APIKey)
	err = s.store.Create(ctx, c)
	if IsKind(err, Conflict) { // a duplicate: nothing was written
		s.undo(ctx, "discard secret of a duplicate", ref.Name, s.keys.Discard)
		return Credential{}, err
	}
	// Not seen, or not known (the re-read failed too): a create holds no
	// lock to fence with, so its write may still land. The secret is
	// scheduled for deletion either way, so that no live secret is left
	// unclaimed: if the write lands after all, the sweep finds the
	// credential claiming a secret scheduled for deletion and restores it.
	if err := s.settleFailed(ctx, c, err, landedAs(c), func(ctx context.Context, st storedState) {
		if claimed, _ := st.claims(ref.Name); !claimed {
			s.undo(ctx, "delete new secret", ref.Name, s.keys.ScheduleDelete)
		}
	}); err != nil {
		return Credential{}, err
	}
	return c, nil
}

// checkCreate applies SPEC's create rules to in: the provider is
// supported, a pasted key is trimmed and an empty key or base URL is none,
// the fields are within their limits, the base URL is allowed. It returns
// in normalised and the display name (account_key unless one is given).
func (s *Service) checkCreate(in CreateInput) (CreateInput, string, error) {
	if err := checkProvider(in.Provider); err != nil {
		return in, "", err
	}
	key, keyErr := normalizeKey(in.APIKey)
	in.APIKey, in.BaseURL = emptyToNil(key), emptyToNil(in.BaseURL)
	display := in.AccountKey
	if in.DisplayName != nil && *in.DisplayName != "" {
		display = *in.DisplayName
	}
	if err := join(
		checkLen("account_key", in.AccountKey, MaxAccountKey),
		checkLen("display_name", display, MaxDisplayName),
		keyErr,
		checkBaseURL(s.checkBaseURL, in.Provider, in.BaseURL, true),
	); err != nil {
		return in, "", err
	}
	return in, display, nil
}

// Update applies in to a credential of the organisation.
func (s *Service) Update(ctx context.Context, orgID, id string, in UpdateInput) (Credential, error) {
	if in.DisplayName != nil {
		if err := join(checkLen("display_name", *in.DisplayName, MaxDisplayName)); err != nil {
			return Credential{}, err
		}
	}
	key, keyErr := normalizeKey(in.APIKey)
	if err := join(keyErr); err != nil {
		return Credential{}, err
	}
	in.APIKey = key // "" still clears
	now := FormatTime(s.now())
	if in.APIKey == nil && in.BaseURL == nil {
		// Nothing that needs the stored item first: one conditional write.
		return s.store.Patch(ctx, orgID, id, Patch{DisplayName: in.DisplayName, Active: in.Active, UpdatedAt: now, UpdatedBy: ActorFrom(ctx)})
	}
	fwd, cancel, err := forward(ctx)
	if err != nil {
		return Credential{}, err
	}
	defer cancel()
	c, err := s.lock(fwd, orgID, id)
	if err != nil {
		return Credential{}, err
	}
	out, err := s.update(fwd, c, in, now)
	if err != nil {
		s.unlock(ctx, c)
	}
	return out, err
}

// update changes c, which this request has locked.
func (s *Service) update(ctx context.Context, c Credential, in UpdateInput, now string) (Credential, error) {
	id, prev := c.ID, c
	if in.DisplayName != nil {
		c.DisplayName = *in.DisplayName
	}
	if in.Active != nil {
		c.Active = *in.Active
	}
	if in.BaseURL != nil {
		c.BaseURL = emptyToNil(in.BaseURL)
		// "" clears the base URL even where the provider needs one (SPEC);
		// its probe then reports the base URL missing.
		if err := join(checkBaseURL(s.checkBaseURL, c.Provider, c.BaseURL, false)); err != nil {
			return Credential{}, err
		}
	}
	c.UpdatedAt, _ = time.Parse(TimeLayout, now)
	if actor := ActorFrom(ctx); actor != "" {
		c.UpdatedBy = actor
	}
	c.Revision++

	switch {
	case in.APIKey == nil || (*in.APIKey == "" && !prev.HasAPIKey):
		return s.replace(ctx, c, prev.Revision)

	case *in.APIKey == "": // clear the key: schedule the secret's deletion, then the metadata
		if err := s.keys.ScheduleDelete(ctx, prev.SecretName); err != nil {
			return Credential{}, s.settleFailed(ctx, c, fmt.Errorf("update credential %s: delete key: %w", id, err),
				nil, s.restoreIfClaimed(prev.SecretName))
		}
		c.clearKey()
		if err := s.settleFailed(ctx, c, s.store.Replace(ctx, c, prev.Revision), landedAs(c), s.restoreIfClaimed(prev.SecretName)); err != nil {
			return Credential{}, err
		}
		return c, nil

	case prev.HasAPIKey: // rotate: a new version of the same secret
		// A failed put leaves the credential naming its old version, which
		// still exists: nothing to undo.
		version, err := s.keys.Put(ctx, prev.SecretName, *in.APIKey)
		if err != nil {
			return Credential{}, fmt.Errorf("update credential %s: put key: %w", id, err)
		}
		c.setKey(prev.SecretName, version, *in.APIKey)
		// The credential still names the old version (which stays readable
		// as AWSPREVIOUS) when the write did not land; make it current
		// again unless another write has moved on meanwhile.
		revert := func(ctx context.Context, st storedState) {
			if st.known && st.found && st.c.KeyVersion == prev.KeyVersion {
				s.undo(ctx, "revert secret version", prev.SecretName, func(ctx context.Context, name string) error {
					return s.keys.Revert(ctx, name, prev.KeyVersion, version)
				})
			}
		}
		if err := s.settleFailed(ctx, c, s.store.Replace(ctx, c, prev.Revision), landedAs(c), revert); err != nil {
			return Credential{}, err
		}
		return c, nil

	default: // first key, or a key again after it was cleared
		// A secret of its own, named for this revision: a key cleared
		// before stays in the secret scheduled for deletion, and is gone
		// for good once its recovery window ends, instead of living on as
		// an old version of the secret the new key would reuse.
		ref := s.ref(c)
		ref.Name = s.keys.Name(c.OrgID, c.ID+"."+strconv.FormatInt(c.Revision, 10))
		version, err := s.keys.Create(ctx, ref, *in.APIKey)
		if err != nil {
			return Credential{}, s.settleFailed(ctx, c, fmt.Errorf("update credential %s: store key: %w", id, err),
				nil, s.discardUnclaimed(ref.Name))
		}
		c.setKey(ref.Name, version, *in.APIKey)
		if err := s.settleFailed(ctx, c, s.store.Replace(ctx, c, prev.Revision), landedAs(c), s.discardUnclaimed(ref.Name)); err != nil {
			return Credential{}, err
		}
		return c, nil
	}
}

// replace writes c over revision prev; a write that landed though its
// answer was lost is a success.
func (s *Service) replace(ctx context.Context, c Credential, prev int64) (Credential, error) {
	err := s.store.Replace(ctx, c, prev)
	if IsKind(err, NotFound) {
		return c, err
	}
	return c, s.settleFailed(ctx, c, err, landedAs(c), nil)
}

// Delete removes a credential of the organisation and schedules its key's
// deletion. The secret goes first so that a failed metadata delete can
// restore it; the reverse order would leave an orphan on the same failure.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	fwd, cancel, err := forward(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	c, err := s.lock(fwd, orgID, id)
	if err != nil {
		return err
	}
	if err := s.delete(fwd, c); err != nil {
		s.unlock(ctx, c)
		return err
	}
	return nil
}

func (s *Service) delete(ctx context.Context, c Credential) error {
	var restore func(context.Context, storedState) // nothing to restore without a key
	if c.HasAPIKey {
		restore = s.restoreIfClaimed(c.SecretName)
		if err := s.keys.ScheduleDelete(ctx, c.SecretName); err != nil {
			return s.settleFailed(ctx, c, fmt.Errorf("delete credential %s: delete key: %w", c.ID, err), nil, restore)
		}
	}
	// Gone when re-read: deleted, by this request whose answer was lost.
	gone := func(st storedState) bool { return st.known && !st.found }
	return s.settleFailed(ctx, c, s.store.Delete(ctx, c), gone, restore)
}

func (s *Service) ref(c Credential) SecretRef {
	return SecretRef{Name: s.keys.Name(c.OrgID, c.ID), OrgID: c.OrgID, CredentialID: c.ID, Provider: c.Provider}
}

func (c *Credential) setKey(name, version, key string) {
	c.rememberKey(name, version)
	c.HasAPIKey, c.SecretName, c.KeyVersion, c.APIKeyLastFour = true, name, version, lastFour(key)
}

func (c *Credential) clearKey() {
	c.forgetPrevious()
	c.KeyUpdatedAt = nil
	c.HasAPIKey, c.SecretName, c.KeyVersion, c.APIKeyLastFour = false, "", "", nil
}

// lockTTL bounds how long a request that died mid-change keeps others
// from changing the credential: longer than a function's timeout.
const lockTTL = 60 * time.Second

func (s *Service) lock(ctx context.Context, orgID, id string) (Credential, error) {
	token := NewID()
	c, err := s.store.Lock(ctx, orgID, id, token, s.now().Add(lockTTL))
	switch KindOf(err) {
	case Conflict:
		return Credential{}, Errorf(Conflict, "The credential is being changed by another request; retry.")
	case Internal:
		if err != nil { // the lock may have been taken though the answer was lost
			s.unlock(ctx, Credential{OrgID: orgID, ID: id, LockToken: token})
		}
	}
	return c, err
}

// unlock drops a lock this request still holds after a failure (a
// successful write drops it by itself).
func (s *Service) unlock(ctx context.Context, c Credential) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockBudget)
	defer cancel()
	if err := s.store.Unlock(ctx, c); err != nil {
		s.log.WarnContext(ctx, "unlock after a failed write", "credential", c.ID, "err", err)
	}
}

// Time budgets. A function times out at 29 s and is then killed with no
// chance to compensate, so the forward steps of a write stop early enough
// to leave the settling, the undo and the unlock their time.
const (
	forwardBudget = 12 * time.Second
	settleBudget  = 3 * time.Second
	undoBudget    = 8 * time.Second
	unlockBudget  = 3 * time.Second
	cleanupBudget = settleBudget + undoBudget + unlockBudget
	// minForward is the least a write starts with: less, and it answers
	// 503 before it writes anything.
	minForward = 2 * time.Second
)

// forward is the context of a write's forward steps: forwardBudget, or
// less when the request's deadline (the function's timeout) is nearer, so
// that the cleanup still fits after them whatever the request spent first
// (a ?verify=true probe, a read). Too little time left is an outage answer,
// before anything is written.
func forward(ctx context.Context) (context.Context, context.CancelFunc, error) {
	budget := forwardBudget
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)-cleanupBudget)
	}
	if budget < minForward {
		return nil, nil, &Error{Kind: Unavailable, Detail: StorageUnavailable,
			Err: fmt.Errorf("credentials: %s left before the deadline: too little to write and still clean up", budget.Round(time.Millisecond))}
	}
	c, cancel := context.WithTimeout(ctx, budget)
	return c, cancel, nil
}

// storedState is a credential as stored after a failed write: read again,
// not cancelled with the request, because the write may have landed though
// its answer was lost, or a concurrent write may have made the credential
// claim the secret the failed one would undo.
type storedState struct {
	c            Credential
	found, known bool // known: the read itself succeeded
	held         bool // the failed request still holds the lock: none of its writes landed, nor can
}

// settle reads the credential after a failed write of want. A locked write
// is fenced first (Store.Fence), so a write still in flight cannot land
// after the decision; an unlocked one (a create) is read plainly.
func (s *Service) settle(ctx context.Context, want Credential) storedState {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleBudget)
	defer cancel()
	if want.LockToken != "" {
		cur, found, held, err := s.store.Fence(ctx, want)
		if err != nil {
			s.log.ErrorContext(ctx, "settle after a failed write", "credential", want.ID, "err", err)
			return storedState{}
		}
		return storedState{c: cur, found: found, known: true, held: held}
	}
	return s.stored(ctx, want.OrgID, want.ID)
}

func (s *Service) stored(ctx context.Context, orgID, id string) storedState {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleBudget)
	defer cancel()
	c, err := s.store.Get(ctx, orgID, id)
	switch {
	case err == nil:
		return storedState{c: c, found: true, known: true}
	case IsKind(err, NotFound):
		return storedState{known: true}
	default:
		s.log.ErrorContext(ctx, "re-read after a failed write", "credential", id, "err", err)
		return storedState{}
	}
}

// settleFailed is the one sequence every write path runs when one of its
// steps failed with err (nil: it did not, and nothing is done): settle the
// credential (fence a locked write, then read it again); if landed (nil:
// never, for a step whose failure the read cannot undo, such as a key
// store call) says the failed write went through after all, the write is
// a success and nil is returned; otherwise undo (nil: nothing to undo) runs
// with what is stored, and err is returned.
func (s *Service) settleFailed(ctx context.Context, want Credential, err error,
	landed func(storedState) bool, undo func(context.Context, storedState)) error {
	if err == nil {
		return nil
	}
	st := s.settle(ctx, want)
	if landed != nil && landed(st) {
		return nil
	}
	if undo != nil {
		undo(ctx, st)
	}
	return err
}

// landedAs returns the test of whether a failed write of want went
// through: the stored credential has its key, base URL and update time (a
// later display-name or active change may have moved the revision and
// update time on).
func landedAs(want Credential) func(storedState) bool {
	return func(st storedState) bool {
		c := st.c
		return st.known && st.found && !st.held && c.HasAPIKey == want.HasAPIKey && c.SecretName == want.SecretName &&
			c.KeyVersion == want.KeyVersion && equalPtr(c.BaseURL, want.BaseURL) && !c.UpdatedAt.Before(want.UpdatedAt)
	}
}

func equalPtr(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// claims reports whether the stored credential claims secret; known is
// false when the credential could not be read.
func (st storedState) claims(secret string) (claimed, known bool) {
	return st.found && st.c.HasAPIKey && st.c.SecretName == secret, st.known
}

// discardUnclaimed is the undo that deletes secret unless a credential
// claims it. When the credential could not be read, the write may yet
// land (or have landed), so the secret is only scheduled for deletion:
// no live secret is left unclaimed, and if the credential does claim it
// the sweep restores it, which is safer than deleting at once a key that
// may be in use.
func (s *Service) discardUnclaimed(secret string) func(context.Context, storedState) {
	return func(ctx context.Context, st storedState) {
		switch claimed, known := st.claims(secret); {
		case !known:
			s.undo(ctx, "schedule deletion of a secret whose claim is unknown", secret, s.keys.ScheduleDelete)
		case !claimed:
			s.undo(ctx, "discard unclaimed secret", secret, s.keys.Discard)
		}
	}
}

// restoreIfClaimed is the undo that cancels the scheduled deletion of
// secret when a credential still claims it, or when that is unknown
// (restoring an unclaimed secret only leaves work for the sweep).
func (s *Service) restoreIfClaimed(secret string) func(context.Context, storedState) {
	return func(ctx context.Context, st storedState) {
		if claimed, known := st.claims(secret); claimed || !known {
			s.undo(ctx, "restore secret", secret, s.keys.Restore)
		}
	}
}

// undo runs a compensation on secret: tried a few times with backoff (on
// top of the SDK's own retries), and not cancelled with the request, since
// a compensation that gives up leaves the stores disagreeing until the
// scheduled refresh sweeps the leftover. A final failure is logged.
func (s *Service) undo(ctx context.Context, what, secret string, fn func(context.Context, string) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoBudget)
	defer cancel()
	var err error
	for attempt, wait := 0, 50*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		if err = fn(ctx, secret); err == nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		break
	}
	s.log.ErrorContext(ctx, "compensation failed", "action", what, "secret", secret, "err", err)
}
