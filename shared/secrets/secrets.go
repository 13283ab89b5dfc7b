// Package secrets keeps API keys in AWS Secrets Manager, one secret per
// credential, named <prefix>/<org>/<credential id>.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/acme/provider-credentials/shared/credentials"
)

// API is the part of the Secrets Manager client the store uses.
type API interface {
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	DeleteSecret(context.Context, *secretsmanager.DeleteSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	RestoreSecret(context.Context, *secretsmanager.RestoreSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// Store is the Secrets Manager credentials.KeyStore.
type Store struct {
	sm             API
	prefix         string
	recoveryWindow int64  // days, 7 to 30
	kmsKeyID       string // empty: Secrets Manager's AWS managed key
	stack          string // the stack tag of the secrets this store creates and lists; "": none (read only)
}

var _ credentials.KeyStore = (*Store)(nil)

// New returns a Store writing secrets under prefix, deleted after
// recoveryDays (7 to 30, as AWS allows).
func New(sm API, prefix string, recoveryDays int) (*Store, error) {
	if recoveryDays < 7 || recoveryDays > 30 {
		return nil, fmt.Errorf("secrets: recovery window %d days: must be 7 to 30", recoveryDays)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix == "" || strings.Trim(prefix, nameChars) != "" {
		return nil, fmt.Errorf("secrets: prefix %q: must be non-empty and use only letters, digits and /_+=.@-", prefix)
	}
	return &Store{sm: sm, prefix: prefix, recoveryWindow: int64(recoveryDays)}, nil
}

// WithKMSKey returns a copy of s that creates secrets encrypted with the
// given KMS key (an ARN); empty keeps the AWS managed key. Existing
// secrets keep the key they were created with: a restored secret, and
// every new version of a secret, use that secret's own key.
func (s *Store) WithKMSKey(keyID string) *Store {
	c := *s
	c.kmsKeyID = strings.TrimSpace(keyID)
	return &c
}

// StackTag is the tag naming the stack a secret belongs to.
const StackTag = "stack"

// WithStack returns a copy of s that tags the secrets it creates with
// stack and lists only secrets so tagged: two deployments in one account
// and region never touch each other's keys, even under one prefix. A
// store without a stack can read and write keys but creates no secret
// (Create fails) and lists none.
func (s *Store) WithStack(stack string) *Store {
	c := *s
	c.stack = tagValue(stack)
	return &c
}

// Prefix returns the secret name prefix, without a trailing slash.
func (s *Store) Prefix() string { return s.prefix }

const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+=.@-"

// Name returns <prefix>/<org>/<id>. Characters a secret name refuses, and
// '/' and '_' themselves, are written as _XX (hex), so distinct org ids give
// distinct names and no org id can reach into another's path.
func (s *Store) Name(orgID, credentialID string) string {
	return s.prefix + "/" + Escape(orgID) + "/" + credentialID
}

// Escape encodes an org id for use as one secret-name segment.
func Escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '/' && c != '_' && strings.IndexByte(nameChars, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02X", c)
	}
	return b.String()
}

type payload struct {
	APIKey string `json:"api_key"`
}

func value(apiKey string) (*string, error) {
	b, err := json.Marshal(payload{APIKey: apiKey})
	if err != nil {
		return nil, fmt.Errorf("secrets: encode: %w", err)
	}
	return aws.String(string(b)), nil
}

func tagValue(v string) string {
	// Tag values allow letters, digits, spaces and _.:/=+-@ (256 at most).
	var b strings.Builder
	for _, r := range v {
		if r < 128 && (strings.ContainsRune("_.:/=+-@ ", r) || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 256 {
		out = out[:256]
	}
	return out
}

// Create stores a credential's first key. If the name is taken by a secret
// scheduled for deletion (its key was cleared before), that secret is
// restored and given the new key.
func (s *Store) Create(ctx context.Context, ref credentials.SecretRef, apiKey string) (string, error) {
	if s.stack == "" {
		return "", fmt.Errorf("secrets: create %s: no stack to tag the secret with (STACK_NAME)", ref.Name)
	}
	v, err := value(apiKey)
	if err != nil {
		return "", err
	}
	in := &secretsmanager.CreateSecretInput{
		Name:         &ref.Name,
		SecretString: v,
		Description:  aws.String("API key of a provider credential"),
		Tags: []smtypes.Tag{
			{Key: aws.String("org"), Value: aws.String(tagValue(ref.OrgID))},
			{Key: aws.String("credential"), Value: aws.String(ref.CredentialID)},
			{Key: aws.String("provider"), Value: aws.String(ref.Provider)},
			{Key: aws.String(StackTag), Value: aws.String(s.stack)},
		},
	}
	if s.kmsKeyID != "" {
		in.KmsKeyId = aws.String(s.kmsKeyID)
	}
	out, err := s.sm.CreateSecret(ctx, in)
	if err == nil {
		return aws.ToString(out.VersionId), nil
	}
	var exists *smtypes.ResourceExistsException
	var invalid *smtypes.InvalidRequestException
	if !errors.As(err, &exists) && !errors.As(err, &invalid) {
		return "", fmt.Errorf("secrets: create %s: %w", ref.Name, err)
	}
	// Scheduled for deletion (AWS: InvalidRequestException) or left behind:
	// bring it back and write the new key as its current version.
	if err := s.Restore(ctx, ref.Name); err != nil {
		return "", err
	}
	// If the put fails the secret stays restored but unclaimed: the caller
	// settles that, knowing what the credential claims now.
	return s.Put(ctx, ref.Name, apiKey)
}

// Put stores a new key as the secret's current version.
func (s *Store) Put(ctx context.Context, name, apiKey string) (string, error) {
	v, err := value(apiKey)
	if err != nil {
		return "", err
	}
	out, err := s.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &name, SecretString: v})
	if err != nil {
		return "", fmt.Errorf("secrets: put %s: %w", name, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Key returns the API key stored in version of the secret.
func (s *Store) Key(ctx context.Context, name, version string) (string, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: &name}
	if version != "" {
		in.VersionId = &version
	}
	out, err := s.sm.GetSecretValue(ctx, in)
	if err != nil {
		return "", fmt.Errorf("secrets: get %s: %w", name, err)
	}
	var p payload
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &p); err != nil {
		// Never wrap the JSON error: it could quote the secret.
		return "", fmt.Errorf("secrets: get %s: value is not the expected JSON", name)
	}
	return p.APIKey, nil
}

// Revert moves AWSCURRENT back to version to.
func (s *Store) Revert(ctx context.Context, name, to, from string) error {
	_, err := s.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: &name, VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: &to, RemoveFromVersionId: &from,
	})
	if err == nil {
		return nil
	}
	// Refused because from does not hold the label: a retry of a revert
	// that landed (to is current already), or a version no credential
	// names holds it (a PutSecretValue that landed though its answer was
	// lost moved AWSCURRENT onto it). The credential reads its key by
	// version, so the label goes to to from whichever version holds it.
	d, derr := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
	if derr != nil {
		return fmt.Errorf("secrets: revert %s: %w", name, err)
	}
	holder := ""
	for v, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, "AWSCURRENT") {
			holder = v
		}
	}
	switch {
	case holder == to:
		return nil
	case holder == "" || holder == from:
		return fmt.Errorf("secrets: revert %s: %w", name, err)
	}
	if _, err := s.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: &name, VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: &to, RemoveFromVersionId: &holder,
	}); err != nil {
		return fmt.Errorf("secrets: revert %s from %s: %w", name, holder, err)
	}
	return nil
}

// Discard deletes a secret without recovery.
func (s *Store) Discard(ctx context.Context, name string) error {
	_, err := s.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: &name, ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	var nf *smtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("secrets: discard %s: %w", name, err)
	}
	return nil
}

// ScheduleDelete deletes the secret after the recovery window. A secret
// already scheduled is a success: AWS refuses a second DeleteSecret, which
// is what the SDK's retry of one whose answer was lost gets.
func (s *Store) ScheduleDelete(ctx context.Context, name string) error {
	_, err := s.sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: &name, RecoveryWindowInDays: &s.recoveryWindow,
	})
	var nf *smtypes.ResourceNotFoundException
	var invalid *smtypes.InvalidRequestException
	switch {
	case err == nil || errors.As(err, &nf):
		return nil
	case errors.As(err, &invalid):
		if d, derr := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name}); derr == nil && d.DeletedDate != nil {
			return nil
		}
	}
	return fmt.Errorf("secrets: delete %s: %w", name, err)
}

// Restore cancels a scheduled deletion.
func (s *Store) Restore(ctx context.Context, name string) error {
	if _, err := s.sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: &name}); err != nil {
		return fmt.Errorf("secrets: restore %s: %w", name, err)
	}
	return nil
}
