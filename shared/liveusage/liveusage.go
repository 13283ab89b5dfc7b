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
	"github.com/acme/provider-credentials/shared/dynamo"
	"github.com/acme/provider-credentials/shared/usage"
)

// Store is where credentials and cached results live.
type Store interface {
	GetWithUsage(ctx context.Context, orgID, id string) (credentials.Credential, *dynamo.CachedUsage, error)
	PutUsage(ctx context.Context, orgID, id string, u dynamo.CachedUsage) error
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
}

// New returns a Service; results younger than fresh are served from the cache.
func New(store Store, keys Keys, prober Prober, fresh time.Duration, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, keys: keys, prober: prober, fresh: fresh, scheduledFresh: fresh, now: time.Now, log: log}
}

// WithScheduledFresh sets how long results written by the scheduled
// refresh are served (never less than the freshness window of reads).
func (s *Service) WithScheduledFresh(d time.Duration) *Service {
	s.scheduledFresh = max(d, s.fresh)
	return s
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

// Refresh is the scheduled refresh's probe: it probes c now and caches the
// result as the schedule's. The result is returned even when caching fails
// (with the error).
func (s *Service) Refresh(ctx context.Context, c credentials.Credential) (usage.Result, error) {
	return s.probeAndCache(ctx, c, true)
}

func (s *Service) probeAndCache(ctx context.Context, c credentials.Credential, scheduled bool) (usage.Result, error) {
	res := s.Probe(ctx, c)
	b, err := json.Marshal(res)
	if err != nil {
		return res, fmt.Errorf("liveusage: encode result: %w", err)
	}
	err = s.store.PutUsage(ctx, c.OrgID, c.ID, dynamo.CachedUsage{
		Fingerprint: c.ProbeFingerprint(), CheckedAt: res.CheckedAt, Result: b, Scheduled: scheduled,
	})
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
	return usage.Result{
		Provider: c.Provider, AccountKey: c.AccountKey, CheckedAt: now.UTC().Truncate(time.Microsecond),
		Reachable: false, Error: &reason,
	}
}
