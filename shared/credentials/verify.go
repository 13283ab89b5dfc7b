package credentials

import (
	"context"
	"time"
)

// Verify before save (?verify=true on create and update): the new key is
// probed, at the base URL it will be used with, before anything is
// written. A key the provider rejects, or a provider that cannot be
// reached, is a 422 and nothing changes. An accepted probe's result is
// stored as the credential's fresh usage, under the new credential's probe
// fingerprint, so the next usage read costs no probe.
//
// Verification applies to requests that carry a key: a create or update
// with verify=true but without a non-empty api_key (a create without a
// key, a PATCH that only renames, changes the base URL or clears the key)
// has nothing to verify and is a 422, so a client is never told a key was
// verified when none was probed. (Probing a stored key at a new base URL
// would need the update function to read keys; not granted.)

// VerifyTarget is what a verification probes. It holds a key: never log it.
type VerifyTarget struct {
	Provider, AccountKey, APIKey, BaseURL string
}

// Verdict is a verification's outcome. Code and Message, when !OK, are
// short and redacted (no part of the key); Result is the probe's result as
// JSON, to store as fresh usage when OK.
type Verdict struct {
	OK        bool
	Code      string // e.g. "invalid_key", "unreachable", "timeout"
	Message   string
	Result    []byte
	CheckedAt time.Time
}

// Verifier probes keys before they are stored, and stores an accepted
// probe's result as a credential's cached usage (liveusage.Service is one).
type Verifier interface {
	Verify(ctx context.Context, t VerifyTarget) Verdict
	// Remember stores v's result as c's usage, under c's probe fingerprint.
	Remember(ctx context.Context, c Credential, v Verdict) error
}

// VerifyError is the detail entry of a failed verification: a FastAPI-style
// validation entry (loc, msg, type), so clients that read a list of them
// show msg, plus the probe's error_code and short error.
type VerifyError struct {
	Loc       []any  `json:"loc"`
	Msg       string `json:"msg"`
	Type      string `json:"type"`
	ErrorCode string `json:"error_code"`
	Error     string `json:"error"`
}

// verifyType is VerifyError.Type.
const verifyType = "key_verification_failed"

func nothingToVerify() error {
	return &Error{Kind: Invalid, Detail: []FieldError{{
		Loc: []any{"body", "api_key"}, Msg: "verify=true needs an api_key to verify", Type: "missing",
	}}}
}

// verify probes t; a rejection is a 422 whose detail is one VerifyError.
func (s *Service) verify(ctx context.Context, t VerifyTarget) (Verdict, error) {
	if s.verifier == nil {
		return Verdict{}, Errorf(Internal, "verification is not configured")
	}
	v := s.verifier.Verify(ctx, t)
	if v.OK {
		return v, nil
	}
	return v, &Error{Kind: Invalid, Detail: []VerifyError{{
		Loc: []any{"body", "api_key"}, Msg: "The key could not be verified: " + v.Message, Type: verifyType,
		ErrorCode: v.Code, Error: v.Message,
	}}}
}

// remember stores an accepted verification as c's fresh usage; a failure
// only costs the next read a probe, so it is logged, not returned.
func (s *Service) remember(ctx context.Context, c Credential, v Verdict) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleBudget)
	defer cancel()
	if err := s.verifier.Remember(ctx, c, v); err != nil {
		s.log.WarnContext(ctx, "verified usage not cached", "credential", c.ID, "err", err)
	}
}

// CreateVerified is Create with verify=true: in's key is probed first,
// after the checks Create makes (so bad input is the same 422 as without
// the flag, and costs no probe).
func (s *Service) CreateVerified(ctx context.Context, orgID string, in CreateInput) (Credential, error) {
	checked, _, err := s.checkCreate(in)
	if err != nil {
		return Credential{}, err
	}
	if checked.APIKey == nil {
		return Credential{}, nothingToVerify()
	}
	t := VerifyTarget{Provider: in.Provider, AccountKey: in.AccountKey, APIKey: *checked.APIKey}
	if checked.BaseURL != nil {
		t.BaseURL = *checked.BaseURL
	}
	v, err := s.verify(ctx, t)
	if err != nil {
		return Credential{}, err
	}
	c, err := s.Create(ctx, orgID, in)
	if err != nil {
		return Credential{}, err
	}
	s.remember(ctx, c, v)
	return c, nil
}

// UpdateVerified is Update with verify=true: in's key is probed first, at
// the new base URL when in changes it, else at the stored one. A base URL
// changed by another request between the probe and the write wins as if
// it had come after this one (the fresh usage is then not stored: it was
// probed at another base URL).
func (s *Service) UpdateVerified(ctx context.Context, orgID, id string, in UpdateInput) (Credential, error) {
	key, keyErr := normalizeKey(in.APIKey)
	var nameErr *FieldError
	if in.DisplayName != nil {
		nameErr = checkLen("display_name", *in.DisplayName, MaxDisplayName)
	}
	if err := join(nameErr, keyErr); err != nil {
		return Credential{}, err
	}
	if key == nil || *key == "" {
		return Credential{}, nothingToVerify()
	}
	cur, err := s.store.Get(ctx, orgID, id)
	if err != nil {
		return Credential{}, err
	}
	base := cur.BaseURL
	if in.BaseURL != nil {
		base = emptyToNil(in.BaseURL)
		if err := join(checkBaseURL(s.checkBaseURL, cur.Provider, base, false)); err != nil {
			return Credential{}, err
		}
	}
	t := VerifyTarget{Provider: cur.Provider, AccountKey: cur.AccountKey, APIKey: *key}
	if base != nil {
		t.BaseURL = *base
	}
	v, err := s.verify(ctx, t)
	if err != nil {
		return Credential{}, err
	}
	c, err := s.Update(ctx, orgID, id, in)
	if err != nil {
		return Credential{}, err
	}
	if equalPtr(c.BaseURL, base) {
		s.remember(ctx, c, v)
	}
	return c, nil
}
