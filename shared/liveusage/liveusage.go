// Package liveusage answers "how much of this key's rate limits is left":
// it serves a stored credential's cached probe result while it is fresh and
// probes the provider otherwise, reading the key only to probe.
package liveusage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/usage"
)

// Store is where credentials and cached results live; *dynamo.Store is one.
type Store interface {
	// GetWithUsage returns a credential of the organisation (kind NotFound
	// when none) and its cached result, nil when there is none or it is
	// unreadable.
	GetWithUsage(ctx context.Context, orgID, id string) (credentials.Credential, *Cached, error)
	// PutUsage stores a probe result for a credential.
	PutUsage(ctx context.Context, orgID, id string, u Cached) error
	// PutHealth writes h as c's health (only the health attributes), if c
	// still exists at c.Revision and no request holds its key lock; kind
	// Conflict when it changed or is locked, NotFound when it is gone. It
	// never bumps the revision nor touches updated_at.
	PutHealth(ctx context.Context, c credentials.Credential, h credentials.Health) error
}

// Cached is a stored probe result. Freshness is the reader's call, from
// CheckedAt and Fingerprint: the store may keep an expired one a while.
type Cached struct {
	Fingerprint string    // credentials.Credential.ProbeFingerprint when probed
	CheckedAt   time.Time // when probed
	Result      []byte    // the probe result as JSON; never holds a key
	Scheduled   bool      // written by the scheduled refresh, not by a read
}

// Keys reads the API key a credential names.
type Keys interface {
	Key(ctx context.Context, name, version string) (string, error)
}

// Prober probes a provider; *usage.Prober is one.
type Prober interface {
	Probe(ctx context.Context, t usage.Target) usage.Result
}

// KeyUnreadable is the error of a probe that could not read its key (the
// secret is missing, scheduled for deletion, or Secrets Manager failed).
const KeyUnreadable = "the stored API key could not be read"

// Service serves usage reads.
type Service struct {
	store  Store
	keys   Keys
	prober Prober
	fresh  time.Duration
	// scheduledFresh is how long a result the scheduled refresh wrote is
	// served: until the next refresh is due, so page views read the
	// refresh's numbers rather than probing.
	scheduledFresh time.Duration
	now            func() time.Time
	log            *slog.Logger
	quotaLowPct    float64
	keyMaxAge      time.Duration
}

// Options tunes a Service. Zero values take the defaults.
type Options struct {
	// Fresh is how long a result a read probed is served from the cache;
	// zero: not at all (every read probes).
	Fresh time.Duration
	// ScheduledFresh is how long a result the scheduled refresh wrote is
	// served; never less than Fresh, which is also its default.
	ScheduledFresh time.Duration
	Now            func() time.Time // default time.Now
	Log            *slog.Logger     // default slog.Default()
	// QuotaLowPercent: a window whose remaining is under this share of its
	// limit marks the credential's quota low (NextHealth); default
	// DefaultQuotaLowPercent.
	QuotaLowPercent float64
	// KeyMaxAge: a probe of a key set longer ago marks its health's
	// stale_key (credentials.Credential.KeyStale); zero: never.
	KeyMaxAge time.Duration
}

// New returns a Service over its three ports.
func New(store Store, keys Keys, prober Prober, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.QuotaLowPercent <= 0 {
		opts.QuotaLowPercent = DefaultQuotaLowPercent
	}
	return &Service{
		store: store, keys: keys, prober: prober, fresh: opts.Fresh,
		scheduledFresh: max(opts.ScheduledFresh, opts.Fresh), now: opts.Now, log: opts.Log,
		quotaLowPct: opts.QuotaLowPercent, keyMaxAge: opts.KeyMaxAge,
	}
}

// Usage returns the credential's usage: the cached result when it is
// younger than its freshness window (the read window, or the longer one of
// results the scheduled refresh wrote) and was made with the credential's
// current key and base URL; a new probe otherwise, or when refresh is set.
func (s *Service) Usage(ctx context.Context, orgID, id string, refresh bool) (json.RawMessage, error) {
	c, cached, err := s.store.GetWithUsage(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if !refresh && cached != nil && cached.Fingerprint == c.ProbeFingerprint() {
		window := s.fresh
		if cached.Scheduled {
			window = s.scheduledFresh
		}
		if age := s.now().Sub(cached.CheckedAt); age >= 0 && age < window && json.Valid(cached.Result) {
			return cached.Result, nil
		}
	}
	res, err := s.probeAndCache(ctx, c, false)
	if err != nil {
		// The probe's answer stands even if caching it failed.
		s.log.WarnContext(ctx, "usage not cached", "credential", id, "err", err)
	}
	return json.Marshal(res)
}

// Refresh is the scheduled refresh's probe: it probes c now, caches the
// result as the schedule's and keeps c's health (keepHealth). The result
// is returned even when caching fails (with the error).
func (s *Service) Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error) {
	return s.probeAndCache(ctx, c, true)
}

func (s *Service) probeAndCache(ctx context.Context, c credentials.Credential, scheduled bool) (usage.Result, error) {
	res := s.Probe(ctx, c)
	b, err := json.Marshal(res)
	if err != nil {
		return res, fmt.Errorf("liveusage: encode result: %w", err)
	}
	err = s.store.PutUsage(ctx, c.OrgID, c.ID, Cached{
		Fingerprint: c.ProbeFingerprint(), CheckedAt: res.CheckedAt, Result: b, Scheduled: scheduled,
	})
	s.keepHealth(ctx, c, res) // its own failures are logged, not returned
	return res, err
}

// Probe probes c with its stored key, without caching.
func (s *Service) Probe(ctx context.Context, c credentials.Credential) usage.Result {
	t := usage.Target{Provider: c.Provider, AccountKey: c.AccountKey}
	if c.BaseURL != nil {
		t.BaseURL = *c.BaseURL
	}
	if c.HasAPIKey {
		key, err := s.keys.Key(ctx, c.SecretName, c.KeyVersion)
		if err != nil {
			s.log.ErrorContext(ctx, "read key for probe", "credential", c.ID, "err", err)
			return unreachable(c, s.now(), KeyUnreadable)
		}
		t.APIKey = key
	}
	return s.prober.Probe(ctx, t)
}

// Test probes a key that is not stored (POST /provider-credentials/test).
func (s *Service) Test(ctx context.Context, in credentials.TestInput) usage.Result {
	t := usage.Target{Provider: in.Provider, AccountKey: in.AccountKey}
	if in.APIKey != nil {
		t.APIKey = *in.APIKey
	}
	if in.BaseURL != nil {
		t.BaseURL = *in.BaseURL
	}
	return s.prober.Probe(ctx, t)
}

func unreachable(c credentials.Credential, now time.Time, reason string) usage.Result {
	code := usage.CodeKeyUnreadable
	return usage.Result{
		Provider: c.Provider, AccountKey: c.AccountKey, CheckedAt: now.UTC().Truncate(time.Microsecond),
		Reachable: false, Error: &reason, ErrorCode: &code,
	}
}
