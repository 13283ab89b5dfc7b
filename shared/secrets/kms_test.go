package secrets

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/acme/provider-credentials/shared/credentials"
)

// createRecorder is the Secrets Manager client's CreateSecret, recording
// its input; the store's other calls are not made by these tests.
type createRecorder struct {
	API
	in *secretsmanager.CreateSecretInput
}

func (c *createRecorder) CreateSecret(_ context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	c.in = in
	return &secretsmanager.CreateSecretOutput{VersionId: aws.String("v1")}, nil
}

// A configured KMS key is named on every new secret; without one, none is
// (Secrets Manager then uses its AWS managed key).
func TestCreateUsesTheConfiguredKMSKey(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	ref := credentials.SecretRef{Name: "p/org/id", OrgID: "org", CredentialID: "id", Provider: "openai"}
	for _, tc := range []struct{ key, want string }{{key, key}, {"", ""}, {"  ", ""}} {
		sm := &createRecorder{}
		s, err := New(sm, "p", 7)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WithStack("test").WithKMSKey(tc.key).Create(context.Background(), ref, "sk-test-key"); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got := aws.ToString(sm.in.KmsKeyId); got != tc.want || (tc.want == "" && sm.in.KmsKeyId != nil) {
			t.Errorf("WithKMSKey(%q): CreateSecret KmsKeyId = %v, want %q", tc.key, sm.in.KmsKeyId, tc.want)
		}
	}
}
