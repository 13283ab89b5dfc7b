package liveusage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/usage"
)

var _ credentials.Verifier = (*Service)(nil)

// Verify probes a key that is about to be stored: accepted when the
// provider answered and did not reject it (a rate-limited or out-of-quota
// key is a known key: accepted).
func (s *Service) Verify(ctx context.Context, t credentials.VerifyTarget) credentials.Verdict {
	res := s.prober.Probe(ctx, usage.Target{Provider: t.Provider, AccountKey: t.AccountKey, APIKey: t.APIKey, BaseURL: t.BaseURL})
	b, err := json.Marshal(res)
	if err != nil { // a Result always encodes; without it there is just nothing to cache
		b = nil
	}
	v := credentials.Verdict{OK: res.Reachable, Result: b, CheckedAt: res.CheckedAt}
	if !res.Reachable {
		v.Code, v.Message = errorCode(res), "provider did not answer usefully"
		if res.Error != nil {
			v.Message = *res.Error // short and redacted by the prober
		}
	}
	return v
}

// Remember stores v's result as c's usage, as a read's probe would have.
func (s *Service) Remember(ctx context.Context, c credentials.Credential, v credentials.Verdict) error {
	if len(v.Result) == 0 {
		return nil
	}
	if err := s.store.PutUsage(ctx, c.OrgID, c.ID, Cached{Fingerprint: c.ProbeFingerprint(), CheckedAt: v.CheckedAt, Result: v.Result}); err != nil {
		return fmt.Errorf("liveusage: remember verified usage: %w", err)
	}
	return nil
}

// errorCode is a failed probe's reason as the usage resource names it
// (usage.Code): one vocabulary for the 422 of a verification, the usage
// resource and the credential's health.
func errorCode(res usage.Result) string {
	if res.ErrorCode != nil {
		return string(*res.ErrorCode)
	}
	return string(usage.CodeUnreachable)
}
