package authn

import (
	"encoding/json"
	"math"
	"time"
)

// checker validates the registered claims as API Gateway's JWT authorizer
// does: iss equals the issuer exactly; aud (a string or an array) contains
// the audience, or, only when aud is absent, client_id equals it; exp is
// required and in the future; nbf and iat, when present, are not in the
// future. ClockSkew applies to the time checks.
type checker struct {
	issuer   string
	audience string
	now      func() time.Time
}

func (c checker) check(claims Claims) error {
	if iss, _ := claims["iss"].(string); iss != c.issuer {
		return invalid("iss %q, want %q", iss, c.issuer)
	}
	if err := c.checkAudience(claims); err != nil {
		return err
	}
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	if !ok {
		return invalid("no exp claim")
	}
	if !now.Before(exp.Add(ClockSkew)) {
		return invalid("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return err
	}
	if ok && now.Add(ClockSkew).Before(nbf) {
		return invalid("token not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	iat, ok, err := numericDate(claims, "iat")
	if err != nil {
		return err
	}
	if ok && now.Add(ClockSkew).Before(iat) {
		return invalid("token issued in the future (%s)", iat.UTC().Format(time.RFC3339))
	}
	return nil
}

func (c checker) checkAudience(claims Claims) error {
	aud, present := claims["aud"]
	if !present || aud == nil {
		if cid, _ := claims["client_id"].(string); cid == c.audience && cid != "" {
			return nil
		}
		return invalid("no aud claim and client_id is not %q", c.audience)
	}
	switch a := aud.(type) {
	case string:
		if a == c.audience {
			return nil
		}
	case []any:
		for _, e := range a {
			if s, _ := e.(string); s == c.audience {
				return nil
			}
		}
	}
	return invalid("aud %v does not contain %q", aud, c.audience)
}

// numericDate reads a NumericDate claim (seconds since the epoch, possibly
// fractional).
func numericDate(claims Claims, name string) (time.Time, bool, error) {
	v, present := claims[name]
	if !present || v == nil {
		return time.Time{}, false, nil
	}
	var f float64
	switch n := v.(type) {
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return time.Time{}, false, invalid("%s claim %q is not a number", name, n)
		}
		f = x
	case float64:
		f = n
	default:
		return time.Time{}, false, invalid("%s claim is %T, want a number", name, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e12 {
		return time.Time{}, false, invalid("%s claim %v out of range", name, f)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}
