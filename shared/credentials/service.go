package credentials

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
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
	now          func() time.Time
	log          *slog.Logger
}

// Option configures a Service.
type Option func(*Service)

// WithKeyStore gives the service a key store; routes that write keys need one.
func WithKeyStore(k KeyStore) Option { return func(s *Service) { s.keys = k } }

// WithBaseURLCheck sets the base URL validator.
func WithBaseURLCheck(c BaseURLCheck) Option { return func(s *Service) { s.checkBaseURL = c } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger for failed compensations.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// NewService returns a Service over store.
func NewService(store Store, opts ...Option) *Service {
	s := &Service{store: store, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(s)
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
	if err := checkProvider(in.Provider); err != nil {
		return Credential{}, err
	}
	in.APIKey, in.BaseURL = emptyToNil(in.APIKey), emptyToNil(in.BaseURL)
	display := in.AccountKey
	if in.DisplayName != nil && *in.DisplayName != "" {
		display = *in.DisplayName
	}
	if err := join(
		checkLen("account_key", in.AccountKey, MaxAccountKey),
		checkLen("display_name", display, MaxDisplayName),
		checkKey(in.APIKey),
		checkBaseURL(s.checkBaseURL, in.Provider, in.BaseURL, true),
	); err != nil {
		return Credential{}, err
	}
	now := s.now().UTC()
	c := Credential{
		ID: NewID(), OrgID: orgID, Provider: in.Provider, AccountKey: in.AccountKey,
		DisplayName: display, BaseURL: in.BaseURL, Active: in.Active == nil || *in.Active,
		CreatedAt: now, UpdatedAt: now, Revision: 1,
	}
	if in.APIKey == nil {
		return c, s.store.Create(ctx, c)
	}
	ref := s.ref(c)
	version, err := s.keys.Create(ctx, ref, *in.APIKey)
	if err != nil {
		return Credential{}, fmt.Errorf("create credential: store key: %w", err)
	}
	c.setKey(ref.Name, version, *in.APIKey)
	if err := s.store.Create(ctx, c); err != nil {
		s.undo(ctx, "discard new secret", ref.Name, s.keys.Discard)
		return Credential{}, err
	}
	return c, nil
}

// Update applies in to a credential of the organisation.
func (s *Service) Update(ctx context.Context, orgID, id string, in UpdateInput) (Credential, error) {
	if in.DisplayName != nil {
		if err := join(checkLen("display_name", *in.DisplayName, MaxDisplayName)); err != nil {
			return Credential{}, err
		}
	}
	if err := join(checkKey(emptyToNil(in.APIKey))); err != nil {
		return Credential{}, err
	}
	now := FormatTime(s.now())
	if in.APIKey == nil && in.BaseURL == nil {
		// Nothing that needs the stored item first: one conditional write.
		return s.store.Patch(ctx, orgID, id, Patch{DisplayName: in.DisplayName, Active: in.Active, UpdatedAt: now})
	}
	c, err := s.store.Get(ctx, orgID, id)
	if err != nil {
		return Credential{}, err
	}
	prev := c
	if in.DisplayName != nil {
		c.DisplayName = *in.DisplayName
	}
	if in.Active != nil {
		c.Active = *in.Active
	}
	if in.BaseURL != nil {
		c.BaseURL = emptyToNil(in.BaseURL)
		if err := join(checkBaseURL(s.checkBaseURL, c.Provider, c.BaseURL, true)); err != nil {
			return Credential{}, err
		}
	}
	c.UpdatedAt, _ = time.Parse(TimeLayout, now)
	c.Revision++

	switch {
	case in.APIKey == nil || (*in.APIKey == "" && !prev.HasAPIKey):
		return c, s.store.Replace(ctx, c, prev.Revision)

	case *in.APIKey == "": // clear the key: schedule the secret's deletion, then the metadata
		if err := s.keys.ScheduleDelete(ctx, prev.SecretName); err != nil {
			return Credential{}, fmt.Errorf("update credential %s: delete key: %w", id, err)
		}
		c.clearKey()
		if err := s.store.Replace(ctx, c, prev.Revision); err != nil {
			s.undo(ctx, "restore cleared secret", prev.SecretName, s.keys.Restore)
			return Credential{}, err
		}
		return c, nil

	case prev.HasAPIKey: // rotate: a new version of the same secret
		version, err := s.keys.Put(ctx, prev.SecretName, *in.APIKey)
		if err != nil {
			return Credential{}, fmt.Errorf("update credential %s: put key: %w", id, err)
		}
		c.setKey(prev.SecretName, version, *in.APIKey)
		if err := s.store.Replace(ctx, c, prev.Revision); err != nil {
			s.undo(ctx, "revert secret version", prev.SecretName, func(ctx context.Context, name string) error {
				return s.keys.Revert(ctx, name, prev.KeyVersion, version)
			})
			return Credential{}, err
		}
		return c, nil

	default: // first key, or a key again after it was cleared
		ref := s.ref(c)
		version, err := s.keys.Create(ctx, ref, *in.APIKey)
		if err != nil {
			return Credential{}, fmt.Errorf("update credential %s: store key: %w", id, err)
		}
		c.setKey(ref.Name, version, *in.APIKey)
		if err := s.store.Replace(ctx, c, prev.Revision); err != nil {
			s.undo(ctx, "discard new secret", ref.Name, s.keys.Discard)
			return Credential{}, err
		}
		return c, nil
	}
}

// Delete removes a credential of the organisation and schedules its key's
// deletion. The secret goes first so that a failed metadata delete can
// restore it; the reverse order would leave an orphan on the same failure.
func (s *Service) Delete(ctx context.Context, orgID, id string) error {
	c, err := s.store.Get(ctx, orgID, id)
	if err != nil {
		return err
	}
	if !c.HasAPIKey {
		return s.store.Delete(ctx, c)
	}
	if err := s.keys.ScheduleDelete(ctx, c.SecretName); err != nil {
		return fmt.Errorf("delete credential %s: delete key: %w", id, err)
	}
	if err := s.store.Delete(ctx, c); err != nil {
		s.undo(ctx, "restore secret", c.SecretName, s.keys.Restore)
		return err
	}
	return nil
}

func (s *Service) ref(c Credential) SecretRef {
	return SecretRef{Name: s.keys.Name(c.OrgID, c.ID), OrgID: c.OrgID, CredentialID: c.ID, Provider: c.Provider}
}

func (c *Credential) setKey(name, version, key string) {
	c.HasAPIKey, c.SecretName, c.KeyVersion, c.APIKeyLastFour = true, name, version, lastFour(key)
}

func (c *Credential) clearKey() {
	c.HasAPIKey, c.SecretName, c.KeyVersion, c.APIKeyLastFour = false, "", "", nil
}

// undo runs a compensation on secret: tried a few times with backoff (on
// top of the SDK's own retries), and not cancelled with the request, since
// a compensation that gives up leaves the stores disagreeing until the
// scheduled refresh sweeps the leftover. A final failure is logged.
func (s *Service) undo(ctx context.Context, what, secret string, fn func(context.Context, string) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
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
