package credentials

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// lateStore is a Store whose Create fails as if its answer were lost while
// the write was still in flight: the item appears just after the caller's
// re-read.
type lateStore struct {
	Store
	pending *Credential
	stored  map[string]Credential
}

func (s *lateStore) Create(_ context.Context, c Credential) error {
	s.pending = &c
	return errors.New("timeout")
}

func (s *lateStore) Get(_ context.Context, _, id string) (Credential, error) {
	c, ok := s.stored[id]
	if s.pending != nil { // commits after this read
		s.stored[s.pending.ID], s.pending = *s.pending, nil
	}
	if !ok {
		return Credential{}, ErrNotFound()
	}
	return c, nil
}

// recordingKeys is a KeyStore that records what was done to which secret.
type recordingKeys struct {
	KeyStore
	calls []string
}

func (k *recordingKeys) Name(org, id string) string { return "p/" + org + "/" + id }
func (k *recordingKeys) Create(_ context.Context, ref SecretRef, _ string) (string, error) {
	k.calls = append(k.calls, "create")
	return "v1", nil
}
func (k *recordingKeys) Discard(context.Context, string) error {
	k.calls = append(k.calls, "discard")
	return nil
}
func (k *recordingKeys) ScheduleDelete(context.Context, string) error {
	k.calls = append(k.calls, "schedule-delete")
	return nil
}

// TestCreateNeverDestroysAKeyAWriteInFlightMayClaim: a create cannot fence
// its own write, so after a failure it only schedules the new secret's
// deletion, which the sweep can undo if the write lands after all.
func TestCreateNeverDestroysAKeyAWriteInFlightMayClaim(t *testing.T) {
	store := &lateStore{stored: map[string]Credential{}}
	keys := &recordingKeys{}
	svc := NewService(store, Options{
		Keys: keys, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	key := "sk-test-key-1234"
	_, err := svc.Create(context.Background(), "org", CreateInput{Provider: "openai", AccountKey: "a", APIKey: &key})
	if err == nil {
		t.Fatal("Create succeeded; want the store's error")
	}
	if slices.Contains(keys.calls, "discard") || !slices.Contains(keys.calls, "schedule-delete") {
		t.Fatalf("key store calls = %v, want the secret scheduled for deletion, never discarded", keys.calls)
	}
	if len(store.stored) != 1 {
		t.Fatalf("the late write did not land in the fake (%d items)", len(store.stored))
	}
}

// downStore is a Store whose every call after Lock fails: the outcome of
// a write cannot be known, not even by reading again.
type downStore struct {
	Store
	locked Credential
}

var errDown = errors.New("dynamodb unavailable")

func (s *downStore) Create(context.Context, Credential) error { return errDown }
func (s *downStore) Get(context.Context, string, string) (Credential, error) {
	return Credential{}, errDown
}
func (s *downStore) Lock(_ context.Context, _, _, token string, _ time.Time) (Credential, error) {
	c := s.locked
	c.LockToken = token
	return c, nil
}
func (s *downStore) Replace(context.Context, Credential, int64) error { return errDown }
func (s *downStore) Fence(context.Context, Credential) (Credential, bool, bool, error) {
	return Credential{}, false, false, errDown
}
func (s *downStore) Unlock(context.Context, Credential) error { return errDown }

// TestUnknownOutcomeSchedulesTheNewSecretsDeletion: when neither the
// metadata write nor the re-read answers, a new secret is scheduled for
// deletion (the sweep restores it if the write did land), never left live
// nor discarded at once: a create, and a first key set by an update.
func TestUnknownOutcomeSchedulesTheNewSecretsDeletion(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := "sk-test-key-1234"
	for _, tc := range []struct {
		name string
		run  func(*Service) error
	}{
		{"create", func(s *Service) error {
			_, err := s.Create(context.Background(), "org", CreateInput{Provider: "openai", AccountKey: "a", APIKey: &key})
			return err
		}},
		{"first key", func(s *Service) error {
			_, err := s.Update(context.Background(), "org", "c1", UpdateInput{APIKey: &key})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &downStore{locked: Credential{ID: "c1", OrgID: "org", Provider: "openai", AccountKey: "a", Revision: 1, CreatedAt: at, UpdatedAt: at}}
			keys := &recordingKeys{}
			svc := NewService(store, Options{Keys: keys, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Now: func() time.Time { return at.Add(time.Hour) }})
			if err := tc.run(svc); !errors.Is(err, errDown) {
				t.Fatalf("err = %v, want the store's", err)
			}
			if !slices.Equal(keys.calls, []string{"create", "schedule-delete"}) {
				t.Fatalf("key store calls = %v, want create, then schedule-delete", keys.calls)
			}
		})
	}
}
