package liveusage_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/usage"
)

// prober is a fake provider: it counts probes and records what it was
// given; each answer carries the probe's number in SampleInputTokens.
type prober struct {
	mu      sync.Mutex
	now     func() time.Time
	targets []usage.Target
}

func (p *prober) Probe(_ context.Context, t usage.Target) usage.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets = append(p.targets, t)
	n := int64(len(p.targets))
	return usage.Result{Provider: t.Provider, AccountKey: t.AccountKey, CheckedAt: p.now().UTC().Truncate(time.Microsecond),
		Reachable: true, SampleInputTokens: &n}
}

func (p *prober) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.targets)
}

func (p *prober) last() usage.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targets[len(p.targets)-1]
}

type world struct {
	now    time.Time
	faults *mem.Faults
	store  *mem.Store
	keys   *mem.KeyStore
	creds  *credentials.Service
	prober *prober
	live   *liveusage.Service
	c      credentials.Credential
}

const (
	fresh          = 60 * time.Second
	scheduledFresh = 10 * time.Minute
)

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{now: time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC), faults: &mem.Faults{}}
	clock := func() time.Time { return w.now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.store, w.keys = mem.NewStore(w.faults), mem.NewKeyStore(w.faults)
	w.store.Now, w.keys.Now = clock, clock
	w.creds = credentials.NewService(w.store, credentials.Options{Keys: w.keys, Now: clock, Log: log})
	w.prober = &prober{now: clock}
	w.live = liveusage.New(w.store, w.keys, w.prober, liveusage.Options{Fresh: fresh, ScheduledFresh: scheduledFresh, Now: clock, Log: log})
	key := "sk-first-1111"
	c, err := w.creds.Create(context.Background(), "org", credentials.CreateInput{Provider: "openai_compatible", AccountKey: "a",
		APIKey: &key, BaseURL: ptr("https://one.example.com/v1")})
	if err != nil {
		t.Fatal(err)
	}
	w.c = c
	return w
}

func ptr[T any](v T) *T { return &v }

// read is a usage read; it returns the number of the probe whose answer it got.
func (w *world) read(t *testing.T, refresh bool) int64 {
	t.Helper()
	body, err := w.live.Usage(context.Background(), "org", w.c.ID, refresh)
	if err != nil {
		t.Fatalf("usage: %v", err)
	}
	var r usage.Result
	if err := json.Unmarshal(body, &r); err != nil || r.SampleInputTokens == nil {
		t.Fatalf("usage body %s: %v", body, err)
	}
	return *r.SampleInputTokens
}

func (w *world) wantProbe(t *testing.T, refresh bool, probe int64, why string) {
	t.Helper()
	if got := w.read(t, refresh); got != probe {
		t.Fatalf("%s: answered with probe %d, want probe %d (%d probes made)", why, got, probe, w.prober.count())
	}
}

func TestReadProbedResultsAreServedForTheReadWindow(t *testing.T) {
	w := newWorld(t)
	w.wantProbe(t, false, 1, "first read")
	w.now = w.now.Add(fresh - time.Second)
	w.wantProbe(t, false, 1, "59 s later")
	w.now = w.now.Add(time.Second)
	w.wantProbe(t, false, 2, "60 s later")
	if tg := w.prober.last(); tg.APIKey != "sk-first-1111" || tg.BaseURL != "https://one.example.com/v1" || tg.Provider != "openai_compatible" {
		t.Fatalf("probed %s at %s (key given: %v)", tg.Provider, tg.BaseURL, tg.APIKey != "")
	}
}

func TestScheduledResultsAreServedLonger(t *testing.T) {
	w := newWorld(t)
	if _, err := w.live.Refresh(context.Background(), w.c); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(scheduledFresh - time.Second)
	w.wantProbe(t, false, 1, "a scheduled result within its window")
	w.now = w.now.Add(time.Second)
	w.wantProbe(t, false, 2, "a scheduled result at the end of its window")
	// The read's own result is a read-probed one: the read window again.
	w.now = w.now.Add(fresh)
	w.wantProbe(t, false, 3, "the read's result after the read window")
}

func TestScheduledWindowIsNeverShorterThanTheReadWindow(t *testing.T) {
	w := newWorld(t)
	w.live = liveusage.New(w.store, w.keys, w.prober, liveusage.Options{Fresh: fresh, ScheduledFresh: time.Second, Now: func() time.Time { return w.now }})
	if _, err := w.live.Refresh(context.Background(), w.c); err != nil {
		t.Fatal(err)
	}
	w.now = w.now.Add(fresh - time.Second)
	w.wantProbe(t, false, 1, "a scheduled result within the read window")
}

func TestRefreshTrueAlwaysProbes(t *testing.T) {
	w := newWorld(t)
	w.wantProbe(t, false, 1, "first read")
	w.wantProbe(t, true, 2, "refresh=true")
	w.wantProbe(t, true, 3, "refresh=true again")
	w.wantProbe(t, false, 3, "a plain read serves the refreshed result")
}

func TestAChangedKeyOrBaseURLIsProbedAtOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		in   credentials.UpdateInput
		key  string
		base string
	}{
		{"new key", credentials.UpdateInput{APIKey: ptr("sk-second-2222")}, "sk-second-2222", "https://one.example.com/v1"},
		{"new base url", credentials.UpdateInput{BaseURL: ptr("https://two.example.com/v1")}, "sk-first-1111", "https://two.example.com/v1"},
		{"key cleared", credentials.UpdateInput{APIKey: ptr("")}, "", "https://one.example.com/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.wantProbe(t, false, 1, "first read")
			if _, err := w.live.Refresh(ctx, w.c); err != nil { // a scheduled result too
				t.Fatal(err)
			}
			if _, err := w.creds.Update(ctx, "org", w.c.ID, tc.in); err != nil {
				t.Fatal(err)
			}
			w.now = w.now.Add(time.Second)
			w.wantProbe(t, false, 3, "the read after the change")
			if tg := w.prober.last(); tg.APIKey != tc.key || tg.BaseURL != tc.base {
				t.Fatalf("probed %s with the %s key, want %s with the %s key", tg.BaseURL, which(tg.APIKey), tc.base, which(tc.key))
			}
			w.wantProbe(t, false, 3, "the new result is cached")
		})
	}
}

// which names a test key without printing it.
func which(key string) string {
	switch key {
	case "":
		return "no"
	case "sk-first-1111":
		return "first"
	case "sk-second-2222":
		return "second"
	}
	return "another"
}

func TestAFailingCacheWriteStillAnswers(t *testing.T) {
	w := newWorld(t)
	w.faults.Hook = func(op string) mem.Mode {
		if op == "Store.PutUsage" {
			return mem.Before
		}
		return mem.Pass
	}
	w.wantProbe(t, false, 1, "first read, not cached")
	w.wantProbe(t, false, 2, "second read: nothing was cached")
	res, err := w.live.Refresh(context.Background(), w.c)
	var f *mem.Fault
	if !errors.As(err, &f) || !res.Reachable || res.SampleInputTokens == nil || *res.SampleInputTokens != 3 {
		t.Fatalf("Refresh = %+v, %v; want probe 3's result and the cache write's error", res, err)
	}
}

func TestAnUnreadableKeyIsReportedNotProbed(t *testing.T) {
	w := newWorld(t)
	w.faults.Hook = func(op string) mem.Mode {
		if op == "KeyStore.Key" {
			return mem.Before
		}
		return mem.Pass
	}
	body, err := w.live.Usage(context.Background(), "org", w.c.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	var r usage.Result
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Reachable || r.Error == nil || *r.Error != "the stored API key could not be read" || r.ErrorCode == nil || *r.ErrorCode != usage.CodeKeyUnreadable || w.prober.count() != 0 {
		t.Fatalf("result %s after %d probes; want unreachable, key not readable, no probe", body, w.prober.count())
	}
}

func TestUsageOfAMissingOrForeignCredentialIsNotFound(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct{ org, id string }{{"org-b", w.c.ID}, {"org", credentials.NewID()}} {
		_, err := w.live.Usage(context.Background(), tc.org, tc.id, false)
		if !credentials.IsKind(err, credentials.NotFound) {
			t.Errorf("usage of %s/%s: %v, want NotFound", tc.org, tc.id, err)
		}
	}
	if w.prober.count() != 0 {
		t.Fatalf("%d probes made", w.prober.count())
	}
}

func TestTestProbesTheGivenKeyAndStoresNothing(t *testing.T) {
	w := newWorld(t)
	res := w.live.Test(context.Background(), credentials.TestInput{Provider: "openai", AccountKey: "test", APIKey: ptr("sk-second-2222")})
	if tg := w.prober.last(); !res.Reachable || tg.Provider != "openai" || tg.APIKey != "sk-second-2222" || tg.BaseURL != "" {
		t.Fatalf("probed %s at %q with the %s key", tg.Provider, tg.BaseURL, which(tg.APIKey))
	}
	w.wantProbe(t, false, 2, "the stored credential's first read")
}
