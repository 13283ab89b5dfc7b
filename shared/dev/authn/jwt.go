package authn

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// ErrInvalidToken is wrapped by every error about the token itself (as
// opposed to an error reaching the issuer's keys).
var ErrInvalidToken = errors.New("invalid token")

// ClockSkew is the leeway allowed on exp, nbf and iat. API Gateway allows
// none; a few seconds keep a local issuer and a local server with slightly
// different clocks from failing fresh tokens, and no token lives longer
// because of it in any way a client could notice.
const ClockSkew = 5 * time.Second

// maxTokenBytes bounds the work done on a hostile Authorization header.
const maxTokenBytes = 16 << 10

// signingAlgs is the algorithm allow-list: asymmetric signatures only (HS*
// and "none" are deliberately absent, so a public key can never serve as an
// HMAC secret).
var signingAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384}

func invalid(format string, args ...any) error {
	return fmt.Errorf("authn: %s: %w", fmt.Sprintf(format, args...), ErrInvalidToken)
}

// newIDVerifier is go-oidc's verifier for tokens of issuer signed by keys
// with one of algs: it checks the structure, the algorithm, the signature,
// and iss. The audience and the times (exp, nbf, iat) are
// checker's, because API Gateway also accepts client_id (go-oidc knows only
// aud) and ClockSkew applies to exp, nbf and iat alike.
func newIDVerifier(issuer string, keys oidc.KeySet, algs []string, now func() time.Time) *oidc.IDTokenVerifier {
	return oidc.NewVerifier(issuer, keys, &oidc.Config{
		SkipClientIDCheck:    true,
		SkipExpiryCheck:      true,
		SupportedSigningAlgs: algs,
		Now:                  now,
	})
}

// keyErrKey carries a *keyErr through go-oidc's verifier to the KeySet, so
// that a failure to reach the issuer's keys stays distinguishable from an
// invalid token (go-oidc flattens the errors of a KeySet to text).
type keyErrKey struct{}

type keyErr struct{ err error }

// reportKeyError records err, a failure to obtain keys, for verifyToken.
func reportKeyError(ctx context.Context, err error) error {
	if ke, ok := ctx.Value(keyErrKey{}).(*keyErr); ok {
		ke.err = err
	}
	return err
}

// verifyToken checks the token with v (signature, algorithm, iss, exp, nbf)
// and then the claims as API Gateway does with chk. The token must be a
// strict compact JWS: three unpadded base64url segments.
func verifyToken(ctx context.Context, token string, v *oidc.IDTokenVerifier, chk checker) (Claims, error) {
	if len(token) > maxTokenBytes {
		return nil, invalid("token longer than %d bytes", maxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalid("malformed token: %d parts, want 3", len(parts))
	}
	for i, p := range parts {
		if _, err := base64.RawURLEncoding.DecodeString(p); err != nil {
			return nil, invalid("malformed token: segment %d: %v", i+1, err)
		}
	}
	ke := &keyErr{}
	tok, err := v.Verify(context.WithValue(ctx, keyErrKey{}, ke), token)
	if err != nil {
		if ke.err != nil {
			return nil, ke.err
		}
		return nil, invalid("%v", err)
	}
	var claims numberClaims
	if err := tok.Claims(&claims); err != nil {
		return nil, invalid("payload: %v", err)
	}
	if claims == nil {
		return nil, invalid("payload: not a JSON object")
	}
	if err := chk.check(Claims(claims)); err != nil {
		return nil, err
	}
	return Claims(claims), nil
}

// numberClaims decodes a payload keeping numbers as json.Number, as
// FlattenClaims needs them ("1618366253", not "1.618366253e+09").
type numberClaims Claims

func (c *numberClaims) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON object")
	}
	*c = m
	return nil
}

// signJWT makes a compact JWS of claims with go-jose. key is an
// *rsa.PrivateKey (RS*) or an *ecdsa.PrivateKey (ES*); an empty kid leaves
// the header without one.
func signJWT(alg, kid string, claims map[string]any, key crypto.Signer) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("authn: sign %s: %w", alg, err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("authn: sign: claims: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("authn: sign: %w", err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("authn: sign: %w", err)
	}
	return tok, nil
}
