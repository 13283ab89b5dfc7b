package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/acme/provider-credentials/shared/credentials"
)

// Auth says which JWT claims carry the organisation and the role, and which
// roles are admins.
type Auth struct {
	OrgClaim   string   // default "org_id"
	RoleClaim  string   // default "org_role"
	AdminRoles []string // default admin, owner
}

// MaxOrgID is the longest organisation id accepted, in bytes: it keeps
// DynamoDB keys (2,048 bytes) and secret names (512 characters, escaped) in
// bounds.
const MaxOrgID = 128

// Caller is the organisation context of a request.
type Caller struct {
	OrgID   string
	Subject string
	Roles   []string
	Admin   bool
}

// claims returns the verified JWT claims API Gateway's authorizer put in the
// request context (payload format 2.0). Headers are never consulted: a
// client could forge them.
func claims(r *http.Request) map[string]string {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return nil
	}
	return rc.Authorizer.JWT.Claims
}

// caller resolves the organisation context, or an error of kind
// Unauthorized (no verified token at all) or Forbidden (no org or role).
func (a Auth) caller(r *http.Request) (Caller, error) {
	cl := claims(r)
	if cl == nil {
		return Caller{}, credentials.Errorf(credentials.Unauthorized, "Not authenticated")
	}
	org := strings.TrimSpace(cl[a.OrgClaim])
	roles := ParseRoles(cl[a.RoleClaim])
	if org == "" || len(roles) == 0 {
		return Caller{}, credentials.Errorf(credentials.Forbidden, "The token carries no organisation or role.")
	}
	if len(org) > MaxOrgID {
		// DynamoDB keys and secret names have limits; refuse before them.
		return Caller{}, credentials.Errorf(credentials.Forbidden, "The token's organisation id is longer than %d bytes.", MaxOrgID)
	}
	c := Caller{OrgID: org, Subject: cl["sub"], Roles: roles}
	for _, r := range roles {
		if slices.Contains(a.AdminRoles, r) {
			c.Admin = true
		}
	}
	return c, nil
}

// ParseRoles reads a role claim in any of its three encodings: a plain
// string ("admin"), a JSON array (`["admin","billing"]`), or API Gateway's
// flattened array ("[admin billing]"). Empty roles are dropped.
func ParseRoles(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	var list []string
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		if err := json.Unmarshal([]byte(v), &list); err != nil {
			list = strings.Fields(v[1 : len(v)-1])
		}
	} else {
		list = []string{v}
	}
	out := list[:0]
	for _, r := range list {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}
