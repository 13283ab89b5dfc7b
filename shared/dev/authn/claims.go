// Package authn verifies bearer JWTs the way API Gateway's HTTP API JWT
// authorizer does, and turns verified claims into the flattened strings that
// API Gateway puts in requestContext.authorizer.jwt.claims.
package authn

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
)

// Claims is a verified JWT payload, decoded from JSON with numbers kept as
// json.Number.
type Claims map[string]any

// Verifier checks a compact JWS bearer token and returns its claims.
// Any error means the request is unauthorized.
type Verifier interface {
	Verify(ctx context.Context, token string) (Claims, error)
}

// FlattenClaims turns a verified payload into what API Gateway sends in
// requestContext.authorizer.jwt.claims (payload format 2.0):
//   - strings as they are;
//   - numbers as their decimal text ("1618366253", "1.5");
//   - booleans as "true" / "false";
//   - arrays as their flattened elements, space-joined in brackets: "[admin billing]";
//   - objects (and objects inside arrays) as compact JSON: {"a":1} (our choice;
//     API Gateway documents nothing for nested claims);
//   - null claims are left out (a null inside an array becomes "null").
func FlattenClaims(c Claims) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		if v == nil {
			continue
		}
		out[k] = flatten(v)
	}
	return out
}

func flatten(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = flatten(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// Scopes returns the token's scopes: the space-separated "scope" claim
// (OAuth 2.0), else the "scp" claim (an array or a space-separated string).
// It returns nil when there are none.
func Scopes(c Claims) []string {
	if s, ok := c["scope"].(string); ok {
		if f := strings.Fields(s); len(f) > 0 {
			return f
		}
	}
	switch scp := c["scp"].(type) {
	case string:
		if f := strings.Fields(scp); len(f) > 0 {
			return f
		}
	case []any:
		var out []string
		for _, e := range scp {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	case []string:
		if len(scp) > 0 {
			return scp
		}
	}
	return nil
}
