package authn

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

const (
	// RefetchInterval is the least time between two JWKS fetches once keys
	// are known: a token with an unknown kid triggers at most one refetch
	// per interval.
	RefetchInterval = 30 * time.Second
	// retryInterval is the least time between two attempts while discovery
	// or the JWKS fetch is failing (for example, the IdP is not up yet).
	retryInterval = time.Second
	// maxDocumentBytes bounds the JWKS document.
	maxDocumentBytes = 1 << 20
)

// OIDC verifies tokens from an OpenID Connect issuer with go-oidc. It
// discovers the issuer (oidc.NewProvider) and fetches its keys on first use
// (so a local server can start before the IdP), caches them, and refetches
// them when a token names an unknown kid, at most once per RefetchInterval.
// No lock is held while a document is fetched: concurrent callers wait for
// the one fetch in flight.
//
// go-oidc's own RemoteKeySet is not used because it refetches on every
// unknown kid or bad signature, which a client could use to make the server
// hammer the IdP; OIDC is the oidc.KeySet that rate-limits.
type OIDC struct {
	issuer   string
	client   *http.Client
	check    checker
	now      func() time.Time
	verifier *oidc.IDTokenVerifier

	mu          sync.Mutex
	jwksURI     string                     // from discovery, once it succeeded
	keys        map[string]jose.JSONWebKey // by kid; nil until a fetch succeeded
	lastAttempt time.Time
	lastFailed  bool
	inflight    chan struct{} // closed when the fetch in flight ends; nil when none
}

var (
	_ Verifier    = (*OIDC)(nil)
	_ oidc.KeySet = (*OIDC)(nil)
)

// NewOIDC returns a verifier for tokens issued by issuer for audience. It does
// no network I/O: discovery happens on the first Verify. ctx is not retained.
// A nil client means one with a 10 s timeout.
func NewOIDC(ctx context.Context, issuer, audience string, client *http.Client) (*OIDC, error) {
	_ = ctx
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("authn: issuer %q is not an http(s) URL", issuer)
	}
	if audience == "" {
		return nil, errors.New("authn: empty audience")
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	o := &OIDC{
		issuer: issuer,
		client: client,
		check:  checker{issuer: issuer, audience: audience, now: time.Now},
		now:    time.Now,
	}
	o.verifier = newIDVerifier(issuer, o, signingAlgs, func() time.Time { return o.check.now() })
	return o, nil
}

// Verify implements Verifier.
func (o *OIDC) Verify(ctx context.Context, token string) (Claims, error) {
	return verifyToken(ctx, token, o.verifier, o.check)
}

// VerifySignature implements oidc.KeySet: it verifies the JWS with the
// issuer's key named by its kid, whose JWK "alg", when present, must be the
// header's.
func (o *OIDC) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, joseAlgs(signingAlgs))
	if err != nil {
		return nil, invalid("%v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("%d signatures, want 1", len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Header
	if hdr.KeyID == "" {
		return nil, invalid("no kid header")
	}
	key, err := o.key(ctx, hdr.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != "" && key.Algorithm != hdr.Algorithm {
		return nil, invalid("alg %s does not match key %q (alg %s)", hdr.Algorithm, hdr.KeyID, key.Algorithm)
	}
	if rk, ok := key.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
		return nil, invalid("RSA key %q of %d bits, want at least 2048", hdr.KeyID, rk.N.BitLen())
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, invalid("alg %s, kid %q: %v", hdr.Algorithm, hdr.KeyID, err)
	}
	return payload, nil
}

// key returns the key with the given kid, fetching the keys when the kid is
// unknown and the last attempt is old enough.
func (o *OIDC) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	for {
		o.mu.Lock()
		if k, ok := o.keys[kid]; ok {
			o.mu.Unlock()
			return k, nil
		}
		if ch := o.inflight; ch != nil {
			o.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return jose.JSONWebKey{}, reportKeyError(ctx, fmt.Errorf("authn: keys of %s: %w", o.issuer, ctx.Err()))
			}
		}
		wait := RefetchInterval
		if o.lastFailed || o.keys == nil {
			wait = retryInterval
		}
		if !o.lastAttempt.IsZero() && o.now().Sub(o.lastAttempt) < wait {
			known := o.keys != nil
			o.mu.Unlock()
			if !known {
				return jose.JSONWebKey{}, reportKeyError(ctx, fmt.Errorf("authn: keys of %s not available yet", o.issuer))
			}
			return jose.JSONWebKey{}, invalid("unknown kid %q", kid)
		}
		o.lastAttempt = o.now()
		done := make(chan struct{})
		o.inflight = done
		jwksURI := o.jwksURI
		o.mu.Unlock()

		keys, jwksURI, err := o.fetchKeys(ctx, jwksURI) // no lock held

		o.mu.Lock()
		o.inflight = nil
		o.lastFailed = err != nil
		if err == nil {
			o.keys, o.jwksURI = keys, jwksURI
		}
		o.mu.Unlock()
		close(done)
		if err != nil {
			return jose.JSONWebKey{}, reportKeyError(ctx, err)
		}
		// Loop: the kid is now known, or the refetch just made rate-limits it.
	}
}

// fetchKeys discovers the jwks_uri when it is not known yet and fetches the
// JWKS. It is called without o.mu held.
func (o *OIDC) fetchKeys(ctx context.Context, jwksURI string) (map[string]jose.JSONWebKey, string, error) {
	ctx = oidc.ClientContext(ctx, o.client)
	if jwksURI == "" {
		p, err := oidc.NewProvider(ctx, o.issuer) // checks the document's issuer
		if err != nil {
			return nil, "", fmt.Errorf("authn: discovery: %w", err)
		}
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err != nil {
			return nil, "", fmt.Errorf("authn: discovery of %s: %w", o.issuer, err)
		}
		if doc.JWKSURI == "" {
			return nil, "", fmt.Errorf("authn: discovery of %s: no jwks_uri", o.issuer)
		}
		jwksURI = doc.JWKSURI
	}
	b, err := o.get(ctx, jwksURI)
	if err != nil {
		return nil, "", err
	}
	keys, err := parseJWKS(b)
	if err != nil {
		return nil, "", fmt.Errorf("authn: JWKS %s: %w", jwksURI, err)
	}
	return keys, jwksURI, nil
}

func (o *OIDC) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("authn: get %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authn: get %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authn: get %s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes))
	if err != nil {
		return nil, fmt.Errorf("authn: read %s: %w", u, err)
	}
	return b, nil
}

// parseJWKS returns the public signature keys of a JWKS by kid, parsed by
// go-jose. Keys that cannot verify a token here (no kid, "use" other than
// "sig", symmetric, or a type go-jose does not know) are skipped one by one,
// as a relying party must, rather than failing the whole set.
func parseJWKS(b []byte) (map[string]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		if k.KeyID == "" || (k.Use != "" && k.Use != "sig") || !k.IsPublic() || !k.Valid() {
			continue
		}
		keys[k.KeyID] = k
	}
	return keys, nil
}

func joseAlgs(algs []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}
