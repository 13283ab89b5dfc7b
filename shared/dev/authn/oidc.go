package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// RefetchInterval is the least time between two JWKS fetches once keys
	// are known: a token with an unknown kid triggers at most one refetch
	// per interval.
	RefetchInterval = 30 * time.Second
	// retryInterval is the least time between two attempts while discovery
	// or the JWKS fetch is failing (for example, the IdP is not up yet).
	retryInterval = time.Second
	// maxDocumentBytes bounds discovery and JWKS documents.
	maxDocumentBytes = 1 << 20
)

// OIDC verifies tokens from an OpenID Connect issuer. It discovers the
// issuer's jwks_uri and fetches its keys on first use (so a local server can
// start before the IdP), caches them, and refetches them when a token names
// an unknown kid, at most once per RefetchInterval.
type OIDC struct {
	issuer string
	client *http.Client
	check  checker
	now    func() time.Time

	mu          sync.Mutex
	jwksURI     string
	keys        map[string]publicKey
	lastAttempt time.Time
	lastFailed  bool
}

var _ Verifier = (*OIDC)(nil)

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
	return &OIDC{
		issuer: issuer,
		client: client,
		check:  checker{issuer: issuer, audience: audience, now: time.Now},
		now:    time.Now,
	}, nil
}

// Verify implements Verifier.
func (o *OIDC) Verify(ctx context.Context, token string) (Claims, error) {
	return verifyToken(ctx, token, o.key, o.check)
}

func (o *OIDC) key(ctx context.Context, kid string) (publicKey, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k, ok := o.keys[kid]; ok {
		return k, nil
	}
	wait := RefetchInterval
	if o.lastFailed || o.keys == nil {
		wait = retryInterval
	}
	if !o.lastAttempt.IsZero() && o.now().Sub(o.lastAttempt) < wait {
		if o.keys == nil {
			return publicKey{}, fmt.Errorf("authn: keys of %s not available yet", o.issuer)
		}
		return publicKey{}, invalid("unknown kid %q", kid)
	}
	o.lastAttempt = o.now()
	keys, err := o.fetchKeys(ctx)
	o.lastFailed = err != nil
	if err != nil {
		return publicKey{}, err
	}
	o.keys = keys
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return publicKey{}, invalid("unknown kid %q", kid)
}

// fetchKeys discovers the jwks_uri (once) and fetches the JWKS. o.mu is held.
func (o *OIDC) fetchKeys(ctx context.Context) (map[string]publicKey, error) {
	if o.jwksURI == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		discovery := strings.TrimSuffix(o.issuer, "/") + "/.well-known/openid-configuration"
		b, err := o.get(ctx, discovery)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("authn: discovery %s: %w", discovery, err)
		}
		if doc.JWKSURI == "" {
			return nil, fmt.Errorf("authn: discovery %s: no jwks_uri", discovery)
		}
		if doc.Issuer != "" && doc.Issuer != o.issuer {
			return nil, fmt.Errorf("authn: discovery %s: issuer %q, want %q", discovery, doc.Issuer, o.issuer)
		}
		o.jwksURI = doc.JWKSURI
	}
	b, err := o.get(ctx, o.jwksURI)
	if err != nil {
		return nil, err
	}
	return parseJWKS(b)
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
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authn: get %s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes))
	if err != nil {
		return nil, fmt.Errorf("authn: read %s: %w", u, err)
	}
	return b, nil
}
