package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

const testAudience = "test-api"

// testIssuer is an httptest OpenID issuer publishing an RSA and an EC key.
type testIssuer struct {
	srv       *httptest.Server
	rsaKey    *rsa.PrivateKey
	ecKey     *ecdsa.PrivateKey
	jwksHits  atomic.Int32
	down      atomic.Bool
	mu        sync.Mutex
	extraKeys []jose.JSONWebKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti := &testIssuer{rsaKey: rk, ecKey: ek}
	mux := http.NewServeMux()
	ti.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ti.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ti.srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": ti.srv.URL, "jwks_uri": ti.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		keys := []any{
			jose.JSONWebKey{Key: &rk.PublicKey, KeyID: "rsa-1", Use: "sig", Algorithm: "RS256"},
			jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "ec-1", Use: "sig", Algorithm: "ES256"},
			map[string]string{"kty": "oct", "kid": "hmac-1"}, // skipped
		}
		ti.mu.Lock()
		for _, k := range ti.extraKeys {
			keys = append(keys, k)
		}
		ti.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	return ti
}

func (ti *testIssuer) claims(mod func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": ti.srv.URL, "aud": testAudience, "sub": "user-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"org_id": "org-a",
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func mustSign(t *testing.T, alg, kid string, claims map[string]any, key crypto.Signer) string {
	t.Helper()
	tok, err := signJWT(alg, kid, claims, key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestOIDCVerify(t *testing.T) {
	ti := newTestIssuer(t)
	v, err := NewOIDC(context.Background(), ti.srv.URL, testAudience, ti.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ti.rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	hs256 := func() string { // alg confusion: HMAC keyed with the RSA public key
		signed := b64(map[string]string{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}) + "." + b64(ti.claims(nil))
		m := hmac.New(sha256.New, pubPEM)
		m.Write([]byte(signed))
		return signed + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	none := b64(map[string]string{"alg": "none", "kid": "rsa-1"}) + "." + b64(ti.claims(nil)) + "."
	good := mustSign(t, "RS256", "rsa-1", ti.claims(nil), ti.rsaKey)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64(ti.claims(func(c map[string]any) { c["org_id"] = "org-b" })) + "." + parts[2]

	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"RS256", good, false},
		{"ES256", mustSign(t, "ES256", "ec-1", ti.claims(nil), ti.ecKey), false},
		{"aud array", mustSign(t, "ES256", "ec-1", ti.claims(func(c map[string]any) { c["aud"] = []string{"x", testAudience} }), ti.ecKey), false},
		{"client_id without aud", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { delete(c, "aud"); c["client_id"] = testAudience }), ti.rsaKey), false},
		{"client_id ignored when aud present", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { c["aud"] = "x"; c["client_id"] = testAudience }), ti.rsaKey), true},
		{"wrong issuer", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { c["iss"] = ti.srv.URL + "/" }), ti.rsaKey), true},
		{"wrong audience", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { c["aud"] = "other" }), ti.rsaKey), true},
		{"no aud", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { delete(c, "aud") }), ti.rsaKey), true},
		{"expired", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), ti.rsaKey), true},
		{"no exp", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { delete(c, "exp") }), ti.rsaKey), true},
		{"exp not a number", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { c["exp"] = "soon" }), ti.rsaKey), true},
		{"not yet valid", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), ti.rsaKey), true},
		{"issued in the future", mustSign(t, "RS256", "rsa-1", ti.claims(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }), ti.rsaKey), true},
		{"alg none", none, true},
		{"HS256 with public key as secret", hs256(), true},
		{"ES256 header on RSA key", mustSign(t, "ES256", "rsa-1", ti.claims(nil), ti.ecKey), true},
		{"RS384 header on RS256 JWK", mustSign(t, "RS384", "rsa-1", ti.claims(nil), ti.rsaKey), true},
		{"unknown kid", mustSign(t, "ES256", "nope", ti.claims(nil), ti.ecKey), true},
		{"no kid", mustSign(t, "ES256", "", ti.claims(nil), ti.ecKey), true},
		{"signed by another key", mustSign(t, "ES256", "ec-1", ti.claims(nil), otherEC), true},
		{"tampered payload", tampered, true},
		{"malformed: two parts", parts[0] + "." + parts[1], true},
		{"malformed: bad base64", parts[0] + ".!!!." + parts[2], true},
		{"malformed: padded", parts[0] + "=." + parts[1] + "." + parts[2], true},
		{"malformed: empty", "", true},
		{"malformed: payload not an object", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`[1]`)) + "." + parts[2], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Verify: got claims %v, want an error", claims)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: got error %v, want none", err)
			}
			if got := claims["org_id"]; got != "org-a" {
				t.Errorf("org_id = %v, want org-a", got)
			}
			if _, ok := claims["exp"].(json.Number); !ok {
				t.Errorf("exp is %T, want json.Number", claims["exp"])
			}
		})
	}
	if got := ti.jwksHits.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (unknown kids rate-limited)", got)
	}
}

func TestOIDCRefetchOnUnknownKid(t *testing.T) {
	ti := newTestIssuer(t)
	v, err := NewOIDC(context.Background(), ti.srv.URL, testAudience, ti.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	v.now, v.check.now = clock, clock

	if _, err := v.Verify(context.Background(), mustSign(t, "RS256", "rsa-1", ti.claims(nil), ti.rsaKey)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	rotated, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	j := jose.JSONWebKey{Key: &rotated.PublicKey, KeyID: "ec-2", Use: "sig"}
	ti.mu.Lock()
	ti.extraKeys = append(ti.extraKeys, j)
	ti.mu.Unlock()
	tok := mustSign(t, "ES256", "ec-2", ti.claims(nil), rotated)

	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify right after a fetch: got %v, want ErrInvalidToken (refetch rate-limited)", err)
	}
	now = now.Add(RefetchInterval)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify after %s: got %v, want none (refetched)", RefetchInterval, err)
	}
	if got := ti.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want 2", got)
	}
}

func TestOIDCLazyDiscovery(t *testing.T) {
	ti := newTestIssuer(t)
	ti.down.Store(true) // the IdP is not up when the server starts
	v, err := NewOIDC(context.Background(), ti.srv.URL, testAudience, ti.srv.Client())
	if err != nil {
		t.Fatalf("NewOIDC with the issuer down: got %v, want none", err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	v.now, v.check.now = clock, clock
	tok := mustSign(t, "RS256", "rsa-1", ti.claims(nil), ti.rsaKey)
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("Verify with the issuer down: got no error, want one")
	}
	ti.down.Store(false)
	now = now.Add(retryInterval)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify once the issuer is up: got %v, want none", err)
	}
}

func TestNewOIDCArgs(t *testing.T) {
	tests := []struct{ issuer, aud string }{
		{"", "a"}, {"not a url", "a"}, {"ftp://x", "a"}, {"https://x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.issuer+"|"+tt.aud, func(t *testing.T) {
			if _, err := NewOIDC(context.Background(), tt.issuer, tt.aud, nil); err == nil {
				t.Errorf("NewOIDC(%q, %q): got no error, want one", tt.issuer, tt.aud)
			}
		})
	}
}

func TestDevIssuer(t *testing.T) {
	d, err := NewDevIssuer()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := NewDevIssuer() // another process: same key
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sign := func(mod func(map[string]any)) string {
		c := DevClaims("dev-user", time.Hour, now)
		c["org_id"] = "org-a"
		c["org_role"] = []string{"admin", "billing"}
		if mod != nil {
			mod(c)
		}
		tok, err := d.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _ := signJWT("ES256", DevKeyID, DevClaims("x", time.Hour, now), other)

	tests := []struct {
		name    string
		token   string
		wantErr bool
	}{
		{"round trip", sign(nil), false},
		{"expired", sign(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }), true},
		{"wrong audience", sign(func(c map[string]any) { c["aud"] = "prod" }), true},
		{"wrong issuer", sign(func(c map[string]any) { c["iss"] = "https://evil" }), true},
		{"signed by another key", forged, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := d2.Verifier().Verify(context.Background(), tt.token)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Verify: got claims %v, want an error", claims)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: got %v, want none", err)
			}
			flat := FlattenClaims(claims)
			if flat["org_role"] != "[admin billing]" || flat["sub"] != "dev-user" || flat["iss"] != DevIssuerURL {
				t.Errorf("claims = %v, want org_role [admin billing], sub dev-user, iss %s", flat, DevIssuerURL)
			}
		})
	}

	t.Run("JWKS verifies dev tokens", func(t *testing.T) {
		b, err := d.JWKS()
		if err != nil {
			t.Fatal(err)
		}
		keys, err := parseJWKS(b)
		if err != nil {
			t.Fatal(err)
		}
		pub := keys[DevKeyID]
		if pub.Key == nil {
			t.Fatalf("JWKS %s has no key %q", b, DevKeyID)
		}
		v := newIDVerifier(DevIssuerURL, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{pub.Key}}, signingAlgs, time.Now)
		if _, err := verifyToken(context.Background(), sign(nil), v, checker{issuer: DevIssuerURL, audience: DevAudience}); err != nil {
			t.Fatalf("verify with published JWKS: got %v, want none", err)
		}
	})

	t.Run("handler", func(t *testing.T) {
		h, err := d.Handler("http://127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", DevDiscoveryPath, nil))
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc["jwks_uri"] != "http://127.0.0.1:1"+DevJWKSPath || doc["issuer"] != DevIssuerURL {
			t.Errorf("discovery = %v, want jwks_uri under the base URL and issuer %s", doc, DevIssuerURL)
		}
	})
}

func TestFlattenClaims(t *testing.T) {
	var c Claims
	dec := json.NewDecoder(strings.NewReader(`{
		"sub": "u1", "exp": 1618366253, "ratio": 1.5, "admin": true, "off": false,
		"roles": ["admin", "billing"], "one": ["x"], "empty": [], "nums": [1, 2],
		"addr": {"city": "Oslo", "zip": 150}, "gone": null
	}`))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	got := FlattenClaims(c)
	want := map[string]string{
		"sub": "u1", "exp": "1618366253", "ratio": "1.5", "admin": "true", "off": "false",
		"roles": "[admin billing]", "one": "[x]", "empty": "[]", "nums": "[1 2]",
		"addr": `{"city":"Oslo","zip":150}`,
	}
	for k, w := range want {
		t.Run(k, func(t *testing.T) {
			if got[k] != w {
				t.Errorf("FlattenClaims[%q] = %q, want %q", k, got[k], w)
			}
		})
	}
	if _, ok := got["gone"]; ok {
		t.Errorf("null claim kept: %q, want it left out", got["gone"])
	}
	if len(got) != len(want) {
		t.Errorf("got %d claims, want %d", len(got), len(want))
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		name   string
		claims Claims
		want   []string
	}{
		{"scope string", Claims{"scope": "read write"}, []string{"read", "write"}},
		{"scp array", Claims{"scp": []any{"a", "b"}}, []string{"a", "b"}},
		{"scp string", Claims{"scp": "a b"}, []string{"a", "b"}},
		{"none", Claims{"sub": "x"}, nil},
		{"empty scope", Claims{"scope": ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Scopes(tt.claims); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Scopes = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestOIDCNoLockAcrossFetch: while a JWKS refetch hangs, tokens signed with
// known keys still verify (no lock is held across the network call).
func TestOIDCNoLockAcrossFetch(t *testing.T) {
	ti := newTestIssuer(t)
	hang := make(chan struct{})
	ti.srv.Config.Handler = blockSecondJWKS(ti.srv.Config.Handler, hang) // before any request
	v, err := NewOIDC(context.Background(), ti.srv.URL, testAudience, ti.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	v.now, v.check.now = clock, clock
	good := mustSign(t, "RS256", "rsa-1", ti.claims(nil), ti.rsaKey)
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	clockMu.Lock()
	now = now.Add(RefetchInterval)
	clockMu.Unlock()

	refetch := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), mustSign(t, "ES256", "unknown", ti.claims(nil), ti.ecKey))
		refetch <- err
	}()
	deadline := time.After(5 * time.Second)
	for ti.jwksHits.Load() < 2 { // the refetch is in the handler, hanging
		select {
		case <-deadline:
			t.Fatal("the refetch never reached the issuer")
		case <-time.After(time.Millisecond):
		}
	}
	verified := make(chan error, 1)
	go func() { _, err := v.Verify(context.Background(), good); verified <- err }()
	select {
	case err := <-verified:
		if err != nil {
			t.Errorf("Verify of a known kid during a refetch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Verify of a known kid blocked behind the JWKS refetch")
	}
	close(hang)
	if err := <-refetch; !errors.Is(err, ErrInvalidToken) {
		t.Errorf("unknown kid after the refetch: got %v, want ErrInvalidToken", err)
	}
}

// blockSecondJWKS makes every JWKS request after the first wait for release.
func blockSecondJWKS(h http.Handler, release <-chan struct{}) http.Handler {
	var n atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" && n.Add(1) > 1 {
			h.ServeHTTP(w, r) // counts the hit; the buffered response is sent when the handler returns
			<-release
			return
		}
		h.ServeHTTP(w, r)
	})
}
