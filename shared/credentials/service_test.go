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
