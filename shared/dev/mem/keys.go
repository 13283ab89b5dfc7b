package mem

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
)

// KeyStore is an in-memory credentials.KeyStore that is also liveusage's
// Keys and the refresh's SecretLister and SecretDeleter, semantics as
// shared/secrets over Secrets Manager: a secret has versions, of which
// only the current and the previous one stay readable; a deletion is
// scheduled (restorable, and the secret unreadable meanwhile) or forced
// (Discard); Create over a secret scheduled for deletion restores it.
type KeyStore struct {
	Faults *Faults          // nil: nothing fails
	Prefix string           // default "test"
	Now    func() time.Time // default time.Now

	mu      sync.Mutex
	secrets map[string]*secret
	seq     int
}

type secret struct {
	ref               credentials.SecretRef
	values            map[string]string // version → key
	current, previous string
	created, changed  time.Time
	deleted           bool
	deletedAt         time.Time
}

var (
	_ credentials.KeyStore  = (*KeyStore)(nil)
	_ liveusage.Keys        = (*KeyStore)(nil)
	_ refresh.SecretLister  = (*KeyStore)(nil)
	_ refresh.SecretDeleter = (*KeyStore)(nil)
)

// NewKeyStore returns an empty KeyStore failing as faults says (nil: never).
func NewKeyStore(faults *Faults) *KeyStore {
	return &KeyStore{Faults: faults, secrets: map[string]*secret{}}
}

// ErrNotFound is the error for a secret that does not exist;
// ErrScheduledForDeletion for one whose deletion is scheduled.
var (
	ErrNotFound             = errors.New("mem: secret not found")
	ErrScheduledForDeletion = errors.New("mem: secret scheduled for deletion")
)

func (k *KeyStore) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *KeyStore) prefix() string {
	if k.Prefix == "" {
		return "test"
	}
	return k.Prefix
}

// Name returns <prefix>/<org>/<id>.
func (k *KeyStore) Name(orgID, credentialID string) string {
	return k.prefix() + "/" + orgID + "/" + credentialID
}

// put makes key the secret's current version (k.mu held).
func (k *KeyStore) put(s *secret, key string) string {
	k.seq++
	v := "v" + strconv.Itoa(k.seq)
	s.values[v] = key
	// The version that loses its label is deprecated but, as in Secrets
	// Manager (up to 100 versions), still readable by id.
	s.previous, s.current, s.changed = s.current, v, k.now()
	return v
}

// live returns the secret if it exists and is not scheduled for deletion.
func (k *KeyStore) live(name string) (*secret, error) {
	s, ok := k.secrets[name]
	switch {
	case !ok:
		return nil, fmt.Errorf("mem: %s: %w", name, ErrNotFound)
	case s.deleted:
		return nil, fmt.Errorf("mem: %s: %w", name, ErrScheduledForDeletion)
	}
	return s, nil
}

// Create stores a credential's first key; over a secret scheduled for
// deletion, or left behind, it restores it and puts the key (two calls:
// "KeyStore.Restore" and "KeyStore.Put", as the adapter makes).
func (k *KeyStore) Create(ctx context.Context, ref credentials.SecretRef, apiKey string) (string, error) {
	var version string
	exists := false
	err := k.Faults.do("KeyStore.Create", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		if _, ok := k.secrets[ref.Name]; ok {
			exists = true
			return nil
		}
		s := &secret{ref: ref, values: map[string]string{}, created: k.now()}
		k.secrets[ref.Name] = s
		version = k.put(s, apiKey)
		return nil
	})
	if err != nil || !exists {
		return version, err
	}
	if err := k.Restore(ctx, ref.Name); err != nil {
		return "", err
	}
	return k.Put(ctx, ref.Name, apiKey)
}

// Put stores a new key as the secret's current version.
func (k *KeyStore) Put(_ context.Context, name, apiKey string) (string, error) {
	var version string
	err := k.Faults.do("KeyStore.Put", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		s, err := k.live(name)
		if err != nil {
			return err
		}
		version = k.put(s, apiKey)
		return nil
	})
	if err != nil {
		return "", err
	}
	return version, nil
}

// Key returns the key in version ("" = current) of a live secret.
func (k *KeyStore) Key(_ context.Context, name, version string) (string, error) {
	var key string
	err := k.Faults.do("KeyStore.Key", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		s, err := k.live(name)
		if err != nil {
			return err
		}
		if version == "" {
			version = s.current
		}
		v, ok := s.values[version]
		if !ok {
			return fmt.Errorf("mem: %s: version %s: %w", name, version, ErrNotFound)
		}
		key = v
		return nil
	})
	return key, err
}

// Revert makes version to current again, from from; a revert that landed
// already is a success.
func (k *KeyStore) Revert(_ context.Context, name, to, from string) error {
	return k.Faults.do("KeyStore.Revert", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		s, err := k.live(name)
		if err != nil {
			return err
		}
		if s.current == to {
			return nil
		}
		if s.values[to] == "" {
			return fmt.Errorf("mem: revert %s to %s: no such version", name, to)
		}
		// As Secrets Manager does: the label moves to to from whichever
		// version holds it (from, or a version a Put whose answer was lost
		// made current), and that one becomes the previous.
		s.previous, s.current, s.changed = s.current, to, k.now()
		return nil
	})
}

// Discard deletes a secret at once; a missing one is a success.
func (k *KeyStore) Discard(_ context.Context, name string) error {
	return k.Faults.do("KeyStore.Discard", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		delete(k.secrets, name)
		return nil
	})
}

// ScheduleDelete schedules a secret's deletion; a missing or already
// scheduled one is a success.
func (k *KeyStore) ScheduleDelete(_ context.Context, name string) error {
	return k.Faults.do("KeyStore.ScheduleDelete", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		if s, ok := k.secrets[name]; ok && !s.deleted {
			s.deleted, s.deletedAt = true, k.now()
		}
		return nil
	})
}

// Restore cancels a scheduled deletion; a live secret is left as it is, a
// missing one is an error.
func (k *KeyStore) Restore(_ context.Context, name string) error {
	return k.Faults.do("KeyStore.Restore", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		s, ok := k.secrets[name]
		if !ok {
			return fmt.Errorf("mem: restore %s: %w", name, ErrNotFound)
		}
		s.deleted, s.deletedAt = false, time.Time{}
		return nil
	})
}

func (k *KeyStore) listed(name string, s *secret) refresh.ListedSecret {
	// One in-memory key store is one stack's: every secret in it is its own.
	l := refresh.ListedSecret{Name: name, Changed: s.changed, Deleted: s.deleted, DeletedAt: s.deletedAt, Owned: true}
	if rest, ok := strings.CutPrefix(name, k.prefix()+"/"); ok {
		if org, id, ok := strings.Cut(rest, "/"); ok && !strings.Contains(id, "/") {
			id, _, _ = strings.Cut(id, ".") // <id>.<generation>, as secrets parses it
			l.OrgID, l.CredentialID = org, id
		}
	}
	return l
}

// List calls fn for every secret under the prefix, in name order, until
// it returns false or an error.
func (k *KeyStore) List(_ context.Context, fn func(refresh.ListedSecret) (bool, error)) error {
	var all []refresh.ListedSecret
	err := k.Faults.do("KeyStore.List", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		for name, s := range k.secrets {
			if strings.HasPrefix(name, k.prefix()+"/") {
				all = append(all, k.listed(name, s))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b refresh.ListedSecret) int { return cmp.Compare(a.Name, b.Name) })
	for _, l := range all {
		if more, err := fn(l); err != nil || !more {
			return err
		}
	}
	return nil
}

// Describe reads one secret as List lists it.
func (k *KeyStore) Describe(_ context.Context, name string) (l refresh.ListedSecret, found bool, err error) {
	err = k.Faults.do("KeyStore.Describe", func() error {
		k.mu.Lock()
		defer k.mu.Unlock()
		if s, ok := k.secrets[name]; ok {
			l, found = k.listed(name, s), true
		}
		return nil
	})
	if err != nil {
		return refresh.ListedSecret{}, false, err
	}
	return l, found, nil
}

// SecretState is what the key store holds under one name, for checks.
type SecretState struct {
	Name              string
	Current, Previous string // readable versions
	Deleted           bool   // scheduled for deletion
}

// Secrets returns every secret, sorted by name.
func (k *KeyStore) Secrets() []SecretState {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]SecretState, 0, len(k.secrets))
	for name, s := range k.secrets {
		out = append(out, SecretState{Name: name, Current: s.current, Previous: s.previous, Deleted: s.deleted})
	}
	slices.SortFunc(out, func(a, b SecretState) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
