package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

const (
	// DevIssuerURL is the iss of development tokens. The host does not
	// exist; nothing ever resolves it.
	DevIssuerURL = "https://dev-issuer.provider-credentials.local"
	// DevAudience is the aud of development tokens.
	DevAudience = "provider-credentials-local"
	// DevKeyID is the kid of the development key.
	DevKeyID = "provider-credentials-dev-1"
	// DevJWKSPath and DevDiscoveryPath are where DevIssuer.Handler serves
	// its keys and its OpenID discovery document.
	DevJWKSPath      = "/.well-known/jwks.json"
	DevDiscoveryPath = "/.well-known/openid-configuration"
)

// devKeyPEM is a DEVELOPMENT-ONLY P-256 private key, published here on
// purpose so that `go run ./cmd/devtoken` and the local server (two separate
// processes) agree on it without any setup. It signs tokens for
// DevIssuerURL/DevAudience only. It must never be trusted outside a
// developer's machine: the AWS deployment verifies tokens with API Gateway's
// JWT authorizer against the real issuer, and nothing in template.yaml refers
// to this issuer or key.
const devKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg8mrSzsRVtQZuF75R
p8Tyf/VbIkQVKABGC25Pk42fJ/2hRANCAAQUqj/7JQogGzO2Y3HhBFQ0iSqkSr0B
T4PazaID5uyXApvutpo8X/KAkCKINoQ/ftjH6EQ75pBKdUwm6337FKjE
-----END PRIVATE KEY-----
`

// DevIssuer signs and verifies development tokens (ES256) with the embedded
// development key.
type DevIssuer struct {
	key *ecdsa.PrivateKey
	now func() time.Time
}

// NewDevIssuer parses the embedded development key.
func NewDevIssuer() (*DevIssuer, error) {
	block, _ := pem.Decode([]byte(devKeyPEM))
	if block == nil {
		return nil, errors.New("authn: dev key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("authn: dev key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("authn: dev key: %T, want ECDSA", k)
	}
	return &DevIssuer{key: ek, now: time.Now}, nil
}

// Sign signs claims as they are (ES256, kid DevKeyID). Use DevClaims for the
// registered claims a verifier requires.
func (d *DevIssuer) Sign(claims map[string]any) (string, error) {
	return signJWT("ES256", DevKeyID, claims, d.key)
}

// DevClaims returns the registered claims of a development token: iss
// DevIssuerURL, aud DevAudience, sub, iat now and exp now+ttl.
func DevClaims(sub string, ttl time.Duration, now time.Time) map[string]any {
	return map[string]any{
		"iss": DevIssuerURL,
		"aud": DevAudience,
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
}

// Verifier returns a Verifier of development tokens: signature (ES256) by
// the development key, iss DevIssuerURL, aud DevAudience, exp, nbf and iat,
// checked exactly as OIDC checks them.
func (d *DevIssuer) Verifier() Verifier {
	chk := checker{issuer: DevIssuerURL, audience: DevAudience, now: d.now}
	keys := &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&d.key.PublicKey}}
	return devVerifier{verifier: newIDVerifier(DevIssuerURL, keys, []string{oidc.ES256}, d.now), check: chk}
}

type devVerifier struct {
	verifier *oidc.IDTokenVerifier
	check    checker
}

func (v devVerifier) Verify(ctx context.Context, token string) (Claims, error) {
	return verifyToken(ctx, token, v.verifier, v.check)
}

// JWKS returns the development issuer's public key set as JSON.
func (d *DevIssuer) JWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &d.key.PublicKey, KeyID: DevKeyID, Algorithm: oidc.ES256, Use: "sig",
	}}}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("authn: dev JWKS: %w", err)
	}
	return b, nil
}

// Handler serves the development JWKS at DevJWKSPath and a discovery
// document at DevDiscoveryPath whose jwks_uri is baseURL+DevJWKSPath (its
// issuer stays DevIssuerURL, the iss of the tokens).
func (d *DevIssuer) Handler(baseURL string) (http.Handler, error) {
	keys, err := d.JWKS()
	if err != nil {
		return nil, err
	}
	disc, err := json.Marshal(map[string]any{
		"issuer":                                DevIssuerURL,
		"jwks_uri":                              baseURL + DevJWKSPath,
		"id_token_signing_alg_values_supported": []string{"ES256"},
	})
	if err != nil {
		return nil, fmt.Errorf("authn: discovery document: %w", err)
	}
	mux := http.NewServeMux()
	serve := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b) // a failed write is the client's disconnect
		}
	}
	mux.Handle("GET "+DevJWKSPath, serve(keys))
	mux.Handle("GET "+DevDiscoveryPath, serve(disc))
	return mux, nil
}
