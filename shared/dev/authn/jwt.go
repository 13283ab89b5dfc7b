package authn

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // RS256, ES256
	_ "crypto/sha512" // RS384, RS512, ES384
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
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

// algorithm describes a supported JWS "alg": how to hash and which key type
// it needs. HS* and "none" are deliberately absent.
type algorithm struct {
	hash crypto.Hash
	rsa  bool
	size int // ECDSA coordinate size in bytes
}

var algorithms = map[string]algorithm{
	"RS256": {hash: crypto.SHA256, rsa: true},
	"RS384": {hash: crypto.SHA384, rsa: true},
	"RS512": {hash: crypto.SHA512, rsa: true},
	"ES256": {hash: crypto.SHA256, size: 32},
	"ES384": {hash: crypto.SHA384, size: 48},
}

func lookupAlg(name string) (algorithm, bool) {
	a, ok := algorithms[name]
	return a, ok
}

// publicKey is a verification key from a JWKS (or the dev issuer).
type publicKey struct {
	key crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
	alg string           // the JWK's "alg", empty when the JWK has none
}

// keyLookup returns the key with the given kid.
type keyLookup func(ctx context.Context, kid string) (publicKey, error)

type jwsHeader struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Typ  string   `json:"typ,omitempty"`
	Crit []string `json:"crit,omitempty"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("authn: %s: %w", fmt.Sprintf(format, args...), ErrInvalidToken)
}

// verifyToken checks the token's structure and signature with the key that
// lookup returns for its kid, then its claims with chk.
func verifyToken(ctx context.Context, token string, lookup keyLookup, chk checker) (Claims, error) {
	if len(token) > maxTokenBytes {
		return nil, invalid("token longer than %d bytes", maxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalid("malformed token: %d parts, want 3", len(parts))
	}
	var hdr jwsHeader
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return nil, invalid("header: %v", err)
	}
	alg, ok := lookupAlg(hdr.Alg)
	if !ok {
		return nil, invalid("unsupported alg %q", hdr.Alg)
	}
	if len(hdr.Crit) > 0 {
		return nil, invalid("unsupported crit header %q", hdr.Crit)
	}
	if hdr.Kid == "" {
		return nil, invalid("no kid header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, invalid("signature encoding: %v", err)
	}
	key, err := lookup(ctx, hdr.Kid)
	if err != nil {
		return nil, err
	}
	if key.alg != "" && key.alg != hdr.Alg {
		return nil, invalid("alg %s does not match key %q (alg %s)", hdr.Alg, hdr.Kid, key.alg)
	}
	if err := verifySignature(alg, key.key, []byte(parts[0]+"."+parts[1]), sig); err != nil {
		return nil, invalid("alg %s, kid %q: %v", hdr.Alg, hdr.Kid, err)
	}
	var claims Claims
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, invalid("payload: %v", err)
	}
	if claims == nil {
		return nil, invalid("payload: not a JSON object")
	}
	if err := chk.check(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON object")
	}
	return nil
}

func verifySignature(alg algorithm, key crypto.PublicKey, signed, sig []byte) error {
	h := alg.hash.New()
	h.Write(signed)
	digest := h.Sum(nil)
	switch k := key.(type) {
	case *rsa.PublicKey:
		if !alg.rsa {
			return errors.New("RSA key for an ECDSA alg")
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
		return rsa.VerifyPKCS1v15(k, alg.hash, digest, sig)
	case *ecdsa.PublicKey:
		if alg.rsa {
			return errors.New("ECDSA key for an RSA alg")
		}
		if (k.Curve.Params().BitSize+7)/8 != alg.size {
			return fmt.Errorf("curve %s does not match alg", k.Curve.Params().Name)
		}
		if len(sig) != 2*alg.size {
			return fmt.Errorf("signature of %d bytes, want %d", len(sig), 2*alg.size)
		}
		r := new(big.Int).SetBytes(sig[:alg.size])
		s := new(big.Int).SetBytes(sig[alg.size:])
		if !ecdsa.Verify(k, digest, r, s) {
			return errors.New("ECDSA verification failed")
		}
		return nil
	default:
		return fmt.Errorf("unsupported key type %T", key)
	}
}

// signJWT makes a compact JWS. key is an *rsa.PrivateKey (RS*) or an
// *ecdsa.PrivateKey (ES*).
func signJWT(algName, kid string, claims map[string]any, key crypto.Signer) (string, error) {
	alg, ok := lookupAlg(algName)
	if !ok {
		return "", fmt.Errorf("authn: sign: unsupported alg %q", algName)
	}
	hdr, err := json.Marshal(jwsHeader{Alg: algName, Kid: kid, Typ: "JWT"})
	if err != nil {
		return "", fmt.Errorf("authn: sign: header: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("authn: sign: claims: %w", err)
	}
	signed := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload)
	h := alg.hash.New()
	h.Write([]byte(signed))
	digest := h.Sum(nil)
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if !alg.rsa {
			return "", fmt.Errorf("authn: sign: RSA key for %s", algName)
		}
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, alg.hash, digest)
	case *ecdsa.PrivateKey:
		if alg.rsa {
			return "", fmt.Errorf("authn: sign: ECDSA key for %s", algName)
		}
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, digest)
		if err == nil {
			sig = make([]byte, 2*alg.size)
			r.FillBytes(sig[:alg.size])
			s.FillBytes(sig[alg.size:])
		}
	default:
		return "", fmt.Errorf("authn: sign: unsupported key type %T", key)
	}
	if err != nil {
		return "", fmt.Errorf("authn: sign: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
