package refresh_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/usage"
)

// oneCredential is a segment holding one credential with a key.
type oneCredential struct{ c credentials.Credential }

func (o oneCredential) Page(context.Context, refresh.Segment, string) (refresh.ScanPage, error) {
	return refresh.ScanPage{Items: []refresh.ScanItem{{Pos: "0", Credential: &o.c}}}, nil
}

// gatedRestore is one claimed secret scheduled for deletion whose restore
// waits until the credential's probe has failed to read it: the order that
// made a refresh cache a key-read failure its own sweep caused.
type gatedRestore struct {
	*oneSecret
	probed   chan struct{}
	restored atomic.Bool
}

func (g *gatedRestore) Restore(ctx context.Context, name string) error {
	<-g.probed
	g.restored.Store(true)
	return g.oneSecret.Restore(ctx, name)
}

// keyReader fails to read the key until the secret is restored.
type keyReader struct {
	g     *gatedRestore
	once  sync.Once
	calls atomic.Int64
}

func (k *keyReader) Refresh(_ context.Context, c credentials.Credential) (usage.Result, error) {
	k.calls.Add(1)
	if !k.g.restored.Load() {
		k.once.Do(func() { close(k.g.probed) })
		reason := liveusage.KeyUnreadable
		return usage.Result{Provider: c.Provider, Reachable: false, Error: &reason}, nil
	}
	return usage.Result{Provider: c.Provider, Reachable: true}, nil
}

// TestRefreshProbesAgainWhatItsSweepRestored: a credential whose probe
// could not read its key because the secret was scheduled for deletion is
// probed again once the sweep alongside restored that secret, so the
// cached result is the second, readable one.
func TestRefreshProbesAgainWhatItsSweepRestored(t *testing.T) {
	now := time.Now()
	name := "p/org/c1"
	pending := refresh.ListedSecret{Name: name, OrgID: "org", CredentialID: "c1", Changed: now.Add(-48 * time.Hour), Owned: true,
		Deleted: true, DeletedAt: now.Add(-10 * time.Minute)}
	g := &gatedRestore{oneSecret: &oneSecret{listed: pending, now: pending, found: true, claimedInBulk: true, claimedNow: true},
		probed: make(chan struct{})}
	ref := &keyReader{g: g}
	cfg, err := refresh.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	r, err := refresh.NewRunner(cfg, 10*time.Second, refresh.Deps{
		Source:    oneCredential{credentials.Credential{ID: "c1", OrgID: "org", Provider: "openai", Active: true, HasAPIKey: true, SecretName: name}},
		Cursors:   &memCursors{},
		Refresher: ref,
		Sweep:     &refresh.SweepDeps{Secrets: g, Claims: g, Deleter: g},
		Log:       quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background(), 0)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Sweep == nil || rep.Sweep.Restored != 1 {
		t.Fatalf("sweep: %+v, want 1 restored", rep.Sweep)
	}
	if got := ref.calls.Load(); got != 2 || rep.Reprobed != 1 || rep.Reachable != 1 || rep.Unreachable != 0 {
		t.Errorf("probes %d, reprobed %d, reachable %d, unreachable %d; want 2, 1, 1, 0", got, rep.Reprobed, rep.Reachable, rep.Unreachable)
	}
}
