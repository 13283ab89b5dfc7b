package liveusage_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/dev/mem"
	"github.com/acme/provider-credentials/shared/liveusage"
	"github.com/acme/provider-credentials/shared/usage"
)

// scripted is a fake provider whose next answer the test sets: an error
// code (nil: a working key) and an optional requests window.
type scripted struct {
	mu       sync.Mutex
	now      func() time.Time
	code     *usage.Code
	requests usage.RequestWindow
}

func (p *scripted) set(code *usage.Code, requests usage.RequestWindow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.code, p.requests = code, requests
}

func (p *scripted) Probe(_ context.Context, t usage.Target) usage.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := usage.Result{Provider: t.Provider, AccountKey: t.AccountKey, CheckedAt: p.now().UTC().Truncate(time.Microsecond),
		Reachable: true, ErrorCode: p.code, Requests: p.requests}
	if p.code != nil {
		msg := string(*p.code)
		r.Error = &msg
		switch *p.code {
		case usage.CodeUnreachable, usage.CodeTimeout, usage.CodeTLSError, usage.CodeAddressNotAllowed, usage.CodeBadBaseURL:
			r.Reachable = false
		}
	}
	return r
}

type healthWorld struct {
	now    time.Time
	faults *mem.Faults
	store  *mem.Store
	creds  *credentials.Service
	prober *scripted
	keys   *mem.KeyStore
	live   *liveusage.Service
	c      credentials.Credential
}

func newHealthWorld(t *testing.T, start time.Time) *healthWorld {
	t.Helper()
	w := &healthWorld{now: start, faults: &mem.Faults{}}
	clock := func() time.Time { return w.now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := mem.NewKeyStore(w.faults)
	w.store = mem.NewStore(w.faults)
	w.store.Now, keys.Now = clock, clock
	w.creds = credentials.NewService(w.store, credentials.Options{Keys: keys, Now: clock, Log: log})
	w.prober = &scripted{now: clock}
	w.live = liveusage.New(w.store, keys, w.prober, liveusage.Options{Fresh: time.Minute, Now: clock, Log: log, KeyMaxAge: 90 * 24 * time.Hour})
	w.keys = keys
	key := "sk-health-1111"
	c, err := w.creds.Create(context.Background(), "org", credentials.CreateInput{Provider: "openai", AccountKey: "a", APIKey: &key})
	if err != nil {
		t.Fatal(err)
	}
	w.c = c
	return w
}

// probe runs a usage probe (refresh=true, as a read with ?refresh=true)
// or the scheduled refresh of the stored credential, and returns how many
// health writes it made and the credential's health afterwards.
func (w *healthWorld) probe(t *testing.T, scheduled bool) (writes int, h credentials.Health) {
	t.Helper()
	ctx := context.Background()
	c, err := w.store.Get(ctx, "org", w.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.faults.Reset()
	if scheduled {
		if _, err := w.live.Refresh(ctx, c); err != nil {
			t.Fatal(err)
		}
	} else if _, err := w.live.Usage(ctx, "org", w.c.ID, true); err != nil {
		t.Fatal(err)
	}
	writes = countOps(w.faults.Ops(), "Store.PutHealth")
	c, err = w.store.Get(ctx, "org", w.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return writes, c.CurrentHealth()
}

func countOps(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

func code(c usage.Code) *usage.Code { return &c }

func wantHealth(t *testing.T, step string, gotWrites, wantWrites int, h credentials.Health, status credentials.HealthStatus, errCode string, failingSince, lastOK time.Time) {
	t.Helper()
	gotCode := ""
	if h.ErrorCode != nil {
		gotCode = *h.ErrorCode
	}
	if gotWrites != wantWrites || h.Status != status || gotCode != errCode || !h.FailingSince.Equal(failingSince) || !h.LastOKAt.Equal(lastOK) {
		t.Fatalf("%s: %d health writes, health %s/%q failing since %v, last ok %v; want %d writes, %s/%q, %v, %v",
			step, gotWrites, h.Status, gotCode, h.FailingSince, h.LastOKAt, wantWrites, status, errCode, failingSince, lastOK)
	}
}

func TestHealthStateMachine(t *testing.T) {
	t0 := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	w := newHealthWorld(t, t0)
	if h := w.c.CurrentHealth(); h.Status != "" {
		t.Fatalf("a new credential's health = %+v, want unknown", h)
	}

	// An outage before any verdict: still unknown, nothing written.
	w.prober.set(code(usage.CodeUnreachable), usage.RequestWindow{})
	n, h := w.probe(t, true)
	wantHealth(t, "unreachable, never probed", n, 0, h, "", "", time.Time{}, time.Time{})

	w.prober.set(nil, usage.RequestWindow{})
	n, h = w.probe(t, true)
	wantHealth(t, "first working probe", n, 1, h, credentials.HealthOK, "", time.Time{}, t0)
	if !h.CheckedAt.Equal(t0) {
		t.Fatalf("checked_at = %v, want the write's probe time %v", h.CheckedAt, t0)
	}

	t1 := t0.Add(5 * time.Minute)
	w.now = t1
	w.prober.set(code(usage.CodeInvalidKey), usage.RequestWindow{})
	n, h = w.probe(t, false)
	wantHealth(t, "key rejected (a usage read)", n, 1, h, credentials.HealthFailing, "invalid_key", t1, t0)

	w.now = t1.Add(5 * time.Minute)
	n, h = w.probe(t, true)
	wantHealth(t, "still rejected", n, 0, h, credentials.HealthFailing, "invalid_key", t1, t0)

	w.now = t1.Add(10 * time.Minute)
	w.prober.set(code(usage.CodeInsufficientQuota), usage.RequestWindow{})
	n, h = w.probe(t, true)
	wantHealth(t, "another failing reason", n, 1, h, credentials.HealthFailing, "insufficient_quota", t1, t0)

	for _, c := range []usage.Code{usage.CodeTimeout, usage.CodeUnreachable, usage.CodeTLSError, usage.CodeProviderError, usage.CodeBadBaseURL} {
		w.now = w.now.Add(time.Minute)
		w.prober.set(code(c), usage.RequestWindow{})
		n, h = w.probe(t, true)
		wantHealth(t, "outage "+string(c)+" while failing", n, 0, h, credentials.HealthFailing, "insufficient_quota", t1, t0)
	}

	t2 := w.now.Add(time.Minute)
	w.now = t2
	w.prober.set(code(usage.CodeRateLimited), usage.RequestWindow{})
	n, h = w.probe(t, true)
	wantHealth(t, "throttled but valid again", n, 1, h, credentials.HealthOK, "", time.Time{}, t2)

	w.now = t2.Add(time.Minute)
	w.prober.set(code(usage.CodeProviderError), usage.RequestWindow{})
	n, h = w.probe(t, true)
	wantHealth(t, "provider error while ok", n, 0, h, credentials.HealthOK, "", time.Time{}, t2)

	t3 := w.now.Add(time.Minute)
	w.now = t3
	w.prober.set(code(usage.CodePermissionDenied), usage.RequestWindow{})
	n, h = w.probe(t, true)
	wantHealth(t, "failing again: a new failing_since", n, 1, h, credentials.HealthFailing, "permission_denied", t3, t2)

	// The health write changes nothing but health.
	c, _ := w.store.Get(context.Background(), "org", w.c.ID)
	if c.Revision != w.c.Revision || !c.UpdatedAt.Equal(w.c.UpdatedAt) {
		t.Fatalf("after health writes revision %d updated_at %v, want %d %v", c.Revision, c.UpdatedAt, w.c.Revision, w.c.UpdatedAt)
	}
}

func TestHealthLastOKIsCoarse(t *testing.T) {
	t0 := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	w := newHealthWorld(t, t0)
	w.prober.set(nil, usage.RequestWindow{})
	writes := 0
	for i := range 10 { // every 6 minutes for an hour: 0, 6, ... 54
		w.now = t0.Add(time.Duration(i) * 6 * time.Minute)
		n, h := w.probe(t, i%2 == 0) // the refresh and usage reads alike
		writes += n
		want := 0
		if i == 0 {
			want = 1
		}
		wantHealth(t, "healthy probe", n, want, h, credentials.HealthOK, "", time.Time{}, t0)
	}
	if writes != 1 {
		t.Fatalf("10 healthy probes in an hour made %d health writes, want 1", writes)
	}
	w.now = t0.Add(time.Hour)
	n, h := w.probe(t, true)
	wantHealth(t, "an hour after the last write", n, 1, h, credentials.HealthOK, "", time.Time{}, t0.Add(time.Hour))
}

func TestQuotaLowOncePerReset(t *testing.T) {
	// Real time: the served view hides a marker whose reset has passed.
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	w := newHealthWorld(t, t0)
	reset := t0.Add(time.Hour)
	window := func(limit, remaining int64, reset time.Time) usage.RequestWindow {
		return usage.RequestWindow{Limit: &limit, Remaining: &remaining, ResetAt: &reset}
	}
	w.prober.set(nil, window(1000, 500, reset))
	if n, h := w.probe(t, true); n != 1 || h.QuotaLow != nil {
		t.Fatalf("half the window left: %d writes, quota low %+v; want 1 (health ok) and none", n, h.QuotaLow)
	}
	w.now = t0.Add(time.Minute)
	w.prober.set(nil, window(1000, 95, reset.Add(time.Second))) // resets drift: "in 59m1s"
	n, h := w.probe(t, true)
	if n != 1 || h.QuotaLow == nil || h.QuotaLow.Window != "requests" || h.QuotaLow.RemainingPct != 9.5 || !h.QuotaLow.ResetAt.Equal(reset.Add(time.Second)) {
		t.Fatalf("9.5%% left: %d writes, quota low %+v; want 1 and requests 9.5%% until %v", n, h.QuotaLow, reset)
	}
	for i := 2; i < 6; i++ {
		w.now = t0.Add(time.Duration(i) * time.Minute)
		w.prober.set(nil, window(1000, int64(90-10*i), reset.Add(time.Duration(i)*time.Second)))
		if n, h := w.probe(t, true); n != 0 || h.QuotaLow.RemainingPct != 9.5 {
			t.Fatalf("lower again in the same window: %d writes, marker %+v; want none, the first marker kept", n, h.QuotaLow)
		}
	}
	c, _ := w.store.Get(context.Background(), "org", w.c.ID)
	var v struct {
		Health struct {
			QuotaLow *struct {
				Window       string  `json:"window"`
				RemainingPct float64 `json:"remaining_pct"`
				ResetAt      string  `json:"reset_at"`
			} `json:"quota_low"`
		} `json:"health"`
	}
	b, _ := json.Marshal(c)
	if err := json.Unmarshal(b, &v); err != nil || v.Health.QuotaLow == nil || v.Health.QuotaLow.Window != "requests" ||
		v.Health.QuotaLow.ResetAt != credentials.FormatTime(reset.Add(time.Second)) {
		t.Fatalf("served %s", b)
	}
	// Right after the reset, a window low again is not marked again: a
	// short window would be marked (and alerted) every run.
	w.now = reset.Add(2 * time.Minute)
	w.prober.set(nil, window(1000, 20, reset.Add(3*time.Minute)))
	// (an hour on, last_ok_at's hourly write may happen; the marker must not move)
	if _, h := w.probe(t, true); h.QuotaLow == nil || h.QuotaLow.RemainingPct != 9.5 || !h.QuotaLow.ResetAt.Equal(reset.Add(time.Second)) {
		t.Fatalf("low again %v after the reset: marker %+v; want the old one kept before %v", 2*time.Minute, h.QuotaLow, liveusage.QuotaLowRepeat)
	}
	// QuotaLowRepeat after the reset, a window low again is a new marker.
	w.now = reset.Add(liveusage.QuotaLowRepeat + time.Minute)
	next := w.now.Add(time.Hour)
	w.prober.set(nil, window(1000, 20, next))
	if n, h := w.probe(t, true); n != 1 || h.QuotaLow == nil || h.QuotaLow.RemainingPct != 2 || !h.QuotaLow.ResetAt.Equal(next) {
		t.Fatalf("low in a later window: %d writes, marker %+v; want 1, 2%% until %v", n, h.QuotaLow, next)
	}
}

func TestQuotaLowPicksTheLowestWindow(t *testing.T) {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	reset := now.Add(time.Minute)
	i := func(v int64) *int64 { return &v }
	res := usage.Result{CheckedAt: now, Reachable: true,
		Requests:     usage.RequestWindow{Limit: i(100), Remaining: i(8), ResetAt: &reset},
		Tokens:       usage.TokenWindow{Limit: i(1000), Remaining: i(30), ResetAt: &reset},
		InputTokens:  usage.TokenWindow{Limit: i(1000), Remaining: i(900), ResetAt: &reset},
		OutputTokens: usage.TokenWindow{Limit: i(0), Remaining: i(0), ResetAt: &reset}, // no limit: not a window
	}
	h, write := liveusage.NextHealth(credentials.Health{}, "fp", res, 10, false)
	if !write || h.QuotaLow == nil || h.QuotaLow.Window != "tokens" || h.QuotaLow.RemainingPct != 3 {
		t.Fatalf("marker %+v (write %v), want tokens at 3%%", h.QuotaLow, write)
	}
	if h, _ := liveusage.NextHealth(credentials.Health{}, "fp", res, 2, false); h.QuotaLow != nil {
		t.Fatalf("under 2%%: marker %+v, want none", h.QuotaLow)
	}
}

func TestServedQuotaLowEndsAtReset(t *testing.T) {
	c := credentials.Credential{KeyVersion: "v1", Provider: "openai"}
	c.Health = credentials.Health{Status: credentials.HealthOK, Fingerprint: c.ProbeFingerprint(),
		QuotaLow: &credentials.QuotaLow{Window: "tokens", RemainingPct: 1, ResetAt: time.Now().Add(-time.Second)}}
	var v struct {
		Health map[string]any `json:"health"`
	}
	b, _ := json.Marshal(c)
	if err := json.Unmarshal(b, &v); err != nil || v.Health["status"] != "ok" || v.Health["quota_low"] != nil {
		t.Fatalf("served %s, want status ok and quota_low null once the window reset", b)
	}
	// Health found with another key version is not served.
	c.KeyVersion = "v2"
	b, _ = json.Marshal(c)
	if err := json.Unmarshal(b, &v); err != nil || v.Health["status"] != "unknown" {
		t.Fatalf("served %s after a key change, want unknown", b)
	}
}

// TestHealthWriteLosesToAChange: a health write conditioned on what the
// probe read never lands over a key change, a delete, or a held lock.
func TestHealthWriteLosesToAChange(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(w *healthWorld) error
	}{
		{"key rotated", func(w *healthWorld) error {
			k := "sk-rotated-2222"
			_, err := w.creds.Update(ctx, "org", w.c.ID, credentials.UpdateInput{APIKey: &k})
			return err
		}},
		{"renamed", func(w *healthWorld) error {
			n := "renamed"
			_, err := w.creds.Update(ctx, "org", w.c.ID, credentials.UpdateInput{DisplayName: &n})
			return err
		}},
		{"deleted", func(w *healthWorld) error { return w.creds.Delete(ctx, "org", w.c.ID) }},
		{"locked", func(w *healthWorld) error {
			_, err := w.store.Lock(ctx, "org", w.c.ID, "other", w.now.Add(time.Minute))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newHealthWorld(t, time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC))
			var changeErr error
			done := false
			w.faults.Hook = func(op string) mem.Mode {
				if op == "Store.PutHealth" && !done {
					done = true // between the probe's read and its health write
					changeErr = tc.change(w)
				}
				return mem.Pass
			}
			w.prober.set(code(usage.CodeInvalidKey), usage.RequestWindow{})
			c, _ := w.store.Get(ctx, "org", w.c.ID)
			if _, err := w.live.Refresh(ctx, c); err != nil {
				t.Fatalf("refresh: %v (a lost health write is not the caller's error)", err)
			}
			if !done || changeErr != nil {
				t.Fatalf("change ran %v: %v", done, changeErr)
			}
			all := w.store.All()
			if tc.name == "deleted" {
				if len(all) != 0 {
					t.Fatalf("after a delete the health write left %+v", all)
				}
				return
			}
			if len(all) != 1 || all[0].Health.Status != "" {
				t.Fatalf("health landed over the change: %+v", all[0].Health)
			}
		})
	}
}

func TestTestProbeStoresNothing(t *testing.T) {
	w := newHealthWorld(t, time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC))
	w.prober.set(code(usage.CodeInvalidKey), usage.RequestWindow{})
	w.faults.Reset()
	k := "sk-other-3333"
	w.live.Test(context.Background(), credentials.TestInput{Provider: "openai", AccountKey: "a", APIKey: &k})
	if ops := w.faults.Ops(); len(ops) != 0 {
		t.Fatalf("a test probe called %v, want nothing", ops)
	}
	if all := w.store.All(); slices.ContainsFunc(all, func(c credentials.Credential) bool { return c.Health.Status != "" }) {
		t.Fatalf("a test probe changed health: %+v", all)
	}
}

// A key older than KeyMaxAge is marked stale once, on the first probe that
// finds it so; a healthy stale key is not rewritten every run; a new key
// starts a new, unmarked health.
func TestStaleKeyMarkedOnce(t *testing.T) {
	t0 := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	w := newHealthWorld(t, t0)
	w.prober.set(nil, usage.RequestWindow{})
	if n, h := w.probe(t, true); n != 1 || h.StaleKey {
		t.Fatalf("a new key: %d writes, stale %v; want 1 write, not stale", n, h.StaleKey)
	}
	w.now = t0.Add(89 * 24 * time.Hour)
	if n, h := w.probe(t, true); h.StaleKey || n != 1 { // last_ok_at's hourly refresh
		t.Fatalf("at 89 days: %d writes, stale %v; want the hourly write, not stale", n, h.StaleKey)
	}
	w.now = t0.Add(91 * 24 * time.Hour)
	n, h := w.probe(t, true)
	if n != 1 || !h.StaleKey || h.Status != credentials.HealthOK {
		t.Fatalf("at 91 days: %d writes, health %+v; want one write marking it stale, still ok", n, h)
	}
	w.now = w.now.Add(10 * time.Minute)
	if n, h := w.probe(t, true); n != 0 || !h.StaleKey {
		t.Fatalf("probed again: %d writes, stale %v; want no write, still stale", n, h.StaleKey)
	}
	// A rotation: a new key, a new health.
	key := "sk-health-2222"
	c, err := w.creds.Update(context.Background(), "org", w.c.ID, credentials.UpdateInput{APIKey: &key})
	if err != nil {
		t.Fatal(err)
	}
	w.c = c
	if n, h := w.probe(t, true); n != 1 || h.StaleKey {
		t.Fatalf("after a rotation: %d writes, stale %v; want 1 write, not stale", n, h.StaleKey)
	}
	if b, _ := json.Marshal(c); !strings.Contains(string(b), `"stale_key":false`) {
		t.Fatalf("credential JSON %s has no stale_key", b)
	}
}
