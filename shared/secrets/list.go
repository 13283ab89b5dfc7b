package secrets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/acme/provider-credentials/shared/refresh"
)

// ListAPI is the part of the Secrets Manager client that listing uses.
type ListAPI interface {
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// ListDescribeAPI is the part of the Secrets Manager client the sweep
// reads with.
type ListDescribeAPI interface {
	ListAPI
	DescribeAPI
}

// Lister is the refresh sweep's SecretLister: a Store's secrets, read
// through a client that can list and describe.
type Lister struct {
	store *Store
	api   ListDescribeAPI
}

var (
	_ refresh.SecretLister  = (*Lister)(nil)
	_ refresh.SecretDeleter = (*Store)(nil)
)

// NewLister lists store's secrets through api.
func NewLister(store *Store, api ListDescribeAPI) *Lister { return &Lister{store: store, api: api} }

// List is Store.List through the lister's client.
func (l *Lister) List(ctx context.Context, fn func(refresh.ListedSecret) (bool, error)) error {
	return l.store.List(ctx, l.api, fn)
}

// Describe is Store.Describe through the lister's client.
func (l *Lister) Describe(ctx context.Context, name string) (refresh.ListedSecret, bool, error) {
	return l.store.Describe(ctx, l.api, name)
}

// List calls fn for every secret whose name starts with <prefix>/ and
// that is tagged with the store's stack, one ListSecrets page (100) at a
// time, until fn returns false or an error. Secrets scheduled for deletion
// are listed too (IncludePlannedDeletion), marked Deleted. A store without
// a stack lists nothing and fails: it cannot tell its secrets from
// another stack's.
func (s *Store) List(ctx context.Context, api ListAPI, fn func(refresh.ListedSecret) (bool, error)) error {
	if s.stack == "" {
		return fmt.Errorf("secrets: list %s/: no stack to list the secrets of (STACK_NAME)", s.prefix)
	}
	in := &secretsmanager.ListSecretsInput{
		MaxResults:             aws.Int32(100),
		IncludePlannedDeletion: aws.Bool(true),
		// The tag filters match a key and a value separately: the
		// pair is checked on each entry below.
		Filters: []smtypes.Filter{
			{Key: smtypes.FilterNameStringTypeName, Values: []string{s.prefix + "/"}},
			{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{StackTag}},
			{Key: smtypes.FilterNameStringTypeTagValue, Values: []string{s.stack}},
		},
	}
	p := secretsmanager.NewListSecretsPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("secrets: list %s/: %w", s.prefix, err)
		}
		for _, e := range page.SecretList {
			name := aws.ToString(e.Name)
			if !strings.HasPrefix(name, s.prefix+"/") || !s.owns(e.Tags) { // the filters match, but be sure
				continue
			}
			more, err := fn(s.listed(name, e.CreatedDate, e.LastChangedDate, e.DeletedDate, e.Tags))
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// DescribeAPI is the part of the Secrets Manager client that Describe uses.
type DescribeAPI interface {
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// Describe reads one secret under the prefix as List would have listed it
// (with DescribeSecret, which also sees a secret scheduled for deletion);
// found is false when it does not exist.
func (s *Store) Describe(ctx context.Context, api DescribeAPI, name string) (l refresh.ListedSecret, found bool, err error) {
	if !strings.HasPrefix(name, s.prefix+"/") {
		return refresh.ListedSecret{}, false, fmt.Errorf("secrets: describe %s: not under %s/", name, s.prefix)
	}
	out, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return refresh.ListedSecret{}, false, nil
	}
	if err != nil {
		return refresh.ListedSecret{}, false, fmt.Errorf("secrets: describe %s: %w", name, err)
	}
	return s.listed(name, out.CreatedDate, out.LastChangedDate, out.DeletedDate, out.Tags), true, nil
}

// owns reports whether tags name the store's stack.
func (s *Store) owns(tags []smtypes.Tag) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == StackTag {
			return s.stack != "" && aws.ToString(t.Value) == s.stack
		}
	}
	return false
}

func (s *Store) listed(name string, created, changed, deleted *time.Time, tags []smtypes.Tag) refresh.ListedSecret {
	l := refresh.ListedSecret{Name: name, Deleted: deleted != nil, Owned: s.owns(tags)}
	if deleted != nil {
		l.DeletedAt = s.deletedAt(*deleted, time.Now())
	}
	if created != nil {
		l.Changed = *created
	}
	if changed != nil && changed.After(l.Changed) {
		l.Changed = *changed
	}
	l.OrgID, l.CredentialID = s.parseName(name)
	return l
}

// deletedAt is when the deletion of a secret whose DeletedDate is d was
// requested. AWS documents DeletedDate (SecretListEntry) as the time the
// deletion occurred, i.e. was requested; moto 5.2.1 reports instead the
// date the secret will be deleted for good, the request plus the recovery
// window (as DeleteSecret's DeletionDate). A DeletedDate more than a day
// after now can only be the latter, so the recovery window is taken off
// (this store's: exact unless the window was changed since the request).
// Without this, a planned date would look young until the secret is gone.
func (s *Store) deletedAt(d, now time.Time) time.Time {
	if d.After(now.Add(24 * time.Hour)) {
		return d.Add(-time.Duration(s.recoveryWindow) * 24 * time.Hour)
	}
	return d
}

// parseName reverses Name: <prefix>/<escaped org>/<credential id>.
func (s *Store) parseName(name string) (orgID, credentialID string) {
	rest, ok := strings.CutPrefix(name, s.prefix+"/")
	if !ok {
		return "", ""
	}
	org, id, ok := strings.Cut(rest, "/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", ""
	}
	orgID, ok = Unescape(org)
	if !ok || orgID == "" || Escape(orgID) != org {
		return "", ""
	}
	id, _, _ = strings.Cut(id, ".") // <id>.<generation>: a key set again after it was cleared
	return orgID, id
}

// Unescape reverses Escape; ok is false for a segment Escape cannot produce.
func Unescape(v string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '_' {
			b.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", false
		}
		n, err := strconv.ParseUint(v[i+1:i+3], 16, 8)
		if err != nil || strings.ToUpper(v[i+1:i+3]) != v[i+1:i+3] {
			return "", false
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), true
}
