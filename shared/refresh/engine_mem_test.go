package refresh_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/refresh"
	"github.com/acme/provider-credentials/shared/usage"
)

type countingProber struct{ probes chan string }

func (p countingProber) Probe(_ context.Context, t usage.Target) usage.Result {
	p.probes <- t.AccountKey
	return usage.Result{Provider: t.Provider, AccountKey: t.AccountKey, CheckedAt: time.Now().UTC().Truncate(time.Microsecond), Reachable: true}
}

// TestRunOverTheInMemoryStores: one run over a segment of the in-memory
// store, through the real usage service, probes each active credential
// with a key once, caches its result as the schedule's and leaves the
// cursor at the start.
func TestRunOverTheInMemoryStores(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, keys := mem.NewStore(nil), mem.NewKeyStore(nil)
	svc := credentials.NewService(store, credentials.Options{Keys: keys, Log: log})
	eligible := map[string]string{} // id → account key
	for i := range 30 {
		in := credentials.CreateInput{Provider: "openai", AccountKey: fmt.Sprintf("a%02d", i)}
		key := "sk-key-" + in.AccountKey
		if i%3 != 0 {
			in.APIKey = &key
		}
		if i%5 == 0 {
			in.Active = new(bool)
		}
		c, err := svc.Create(ctx, "org", in)
		if err != nil {
			t.Fatal(err)
		}
		if c.HasAPIKey && c.Active {
			eligible[c.ID] = c.AccountKey
		}
	}
	p := countingProber{probes: make(chan string, 100)}
	live := liveusage.New(store, keys, p, liveusage.Options{Fresh: time.Minute, Log: log})
	e := refresh.NewEngine(mem.Source{Store: store, PageSize: 7}, store, live, refresh.Options{Concurrency: 4, PerProvider: 2, Log: log})
	st, err := e.Run(ctx, refresh.Segment{Index: 0, Total: 1})
	if err != nil {
		t.Fatal(err)
	}
	close(p.probes)
	probed := map[string]int{}
	for a := range p.probes {
		probed[a]++
	}
	if st.Seen != 30 || st.Probed != len(eligible) || st.Ineligible != 30-len(eligible) || !st.ReachedEnd || len(probed) != len(eligible) {
		t.Fatalf("stats %+v, %d distinct probed; want 30 seen, %d probed, the end reached", st, len(probed), len(eligible))
	}
	for id, account := range eligible {
		if probed[account] != 1 {
			t.Errorf("%s probed %d times", account, probed[account])
		}
		if _, u, err := store.GetWithUsage(ctx, "org", id); err != nil || u == nil || !u.Scheduled {
			t.Errorf("%s: cached %+v, %v; want the schedule's result", account, u, err)
		}
	}
	if pos, err := store.AcquireCursor(ctx, 0, 1, "next", time.Now(), time.Now().Add(time.Minute)); err != nil || pos != "" {
		t.Fatalf("the next run starts at %q (%v), want the start", pos, err)
	}
}
