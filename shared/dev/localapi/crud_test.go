package localapi_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/provider-credentials/shared/credentials"
)

const testKey = "sk-test-0123456789abcdefWXYZ"

func TestCredentialLifecycle(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-a", "admin")
	member := h.token("org-a", "member")

	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "default", "api_key": testKey})
	if !isCanonicalID(c.ID) || c.OrganizationID != "org-a" || c.Provider != "openai" ||
		c.AccountKey != "default" || c.DisplayName != "default" || !c.HasAPIKey ||
		c.APIKeyLastFour == nil || *c.APIKeyLastFour != "WXYZ" || c.BaseURL != nil || !c.Active {
		t.Fatalf("created = %+v", c)
	}
	created, err := time.Parse(time.RFC3339Nano, c.CreatedAt)
	if err != nil || created.Location() != time.UTC || c.UpdatedAt != c.CreatedAt || !strings.HasSuffix(c.CreatedAt, "Z") {
		t.Fatalf("created_at = %q, updated_at = %q (err %v)", c.CreatedAt, c.UpdatedAt, err)
	}

	// The wire format has exactly SPEC's fields.
	r := h.do("GET", "/provider-credentials/"+c.ID, member, nil)
	wantStatus(t, r, 200)
	var raw map[string]any
	r.json(t, &raw)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"account_key", "active", "api_key_last_four", "api_key_updated_at", "base_url", "created_at", "created_by", "display_name",
		"has_api_key", "health", "id", "organization_id", "provider", "updated_at", "updated_by"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("fields = %v, want %v", keys, want)
	}

	// More credentials; list is sorted by provider, then account key.
	h.create(admin, map[string]any{"provider": "anthropic", "account_key": "zeta", "display_name": "Z", "active": false})
	h.create(admin, map[string]any{"provider": "openai", "account_key": "alpha", "api_key": "abc"})
	h.create(admin, map[string]any{"provider": "openai_compatible", "account_key": "vllm", "base_url": "https://llm.example.com/v1"})
	r = h.do("GET", "/provider-credentials", member, nil)
	wantStatus(t, r, 200)
	var list []credential
	r.json(t, &list)
	var order []string
	for _, x := range list {
		order = append(order, x.Provider+"/"+x.AccountKey)
	}
	if want := []string{"anthropic/zeta", "openai/alpha", "openai/default", "openai_compatible/vllm"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("list order = %v, want %v", order, want)
	}
	for _, x := range list {
		switch x.AccountKey {
		case "alpha": // a key shorter than four characters has no last four
			if !x.HasAPIKey || x.APIKeyLastFour != nil {
				t.Errorf("short key: has=%v last4=%v", x.HasAPIKey, x.APIKeyLastFour)
			}
		case "zeta":
			if x.Active || x.DisplayName != "Z" || x.HasAPIKey {
				t.Errorf("zeta = %+v", x)
			}
		case "vllm":
			if x.BaseURL == nil || *x.BaseURL != "https://llm.example.com/v1" {
				t.Errorf("vllm base_url = %v", x.BaseURL)
			}
		}
	}

	// PATCH: display name and active in one write; updated_at moves.
	time.Sleep(2 * time.Millisecond)
	r = h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"display_name": "Prod", "active": false})
	wantStatus(t, r, 200)
	var u credential
	r.json(t, &u)
	if u.DisplayName != "Prod" || u.Active || !u.HasAPIKey || u.UpdatedAt <= c.UpdatedAt || u.CreatedAt != c.CreatedAt {
		t.Fatalf("patched = %+v (before %+v)", u, c)
	}

	// Clear the key, then set one again (the old secret is pending deletion).
	r = h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": ""})
	wantStatus(t, r, 200)
	r.json(t, &u)
	if u.HasAPIKey || u.APIKeyLastFour != nil {
		t.Fatalf("after clear: %+v", u)
	}
	h.checkConsistent()
	r = h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": "sk-second-key-7777"})
	wantStatus(t, r, 200)
	r.json(t, &u)
	if !u.HasAPIKey || *u.APIKeyLastFour != "7777" {
		t.Fatalf("after re-set: %+v", u)
	}
	if got := h.storedKey("org-a", c.ID); got != "sk-second-key-7777" {
		t.Fatalf("stored key after re-set is not the new one")
	}
	// Rotate.
	r = h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": "sk-third-key-8888", "base_url": "https://api.openai.com/v1"})
	wantStatus(t, r, 200)
	r.json(t, &u)
	if *u.APIKeyLastFour != "8888" || u.BaseURL == nil || *u.BaseURL != "https://api.openai.com/v1" {
		t.Fatalf("after rotate: %+v", u)
	}
	if got := h.storedKey("org-a", c.ID); got != "sk-third-key-8888" {
		t.Fatalf("stored key after rotation is not the new one")
	}
	// base_url "" clears it; null or absent leaves things alone.
	r = h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"base_url": "", "display_name": nil})
	wantStatus(t, r, 200)
	r.json(t, &u)
	if u.BaseURL != nil || u.DisplayName != "Prod" {
		t.Fatalf("after clearing base_url: %+v", u)
	}
	h.checkConsistent()

	// DELETE removes it and schedules the key's deletion.
	wantStatus(t, h.do("DELETE", "/provider-credentials/"+c.ID, admin, nil), 204)
	if r := h.do("DELETE", "/provider-credentials/"+c.ID, admin, nil); r.status != 404 || r.detail(t) != "Not Found" {
		t.Fatalf("second delete: %d %s", r.status, r.body)
	}
	wantStatus(t, h.do("GET", "/provider-credentials/"+c.ID, member, nil), 404)
	h.checkConsistent()
	// The same provider and account key can be created again.
	h.create(admin, map[string]any{"provider": "openai", "account_key": "default", "api_key": testKey})
	h.checkConsistent()
	if strings.Contains(h.log.String(), testKey) {
		t.Fatalf("a key reached the logs")
	}
}

func TestDuplicateIs409(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-a", "admin")
	h.create(admin, map[string]any{"provider": "openai", "account_key": "default"})
	r := h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "openai", "account_key": "default", "api_key": testKey})
	wantStatus(t, r, 409)
	if got, want := r.detail(t), "A 'openai' credential with account key 'default' already exists."; got != want {
		t.Fatalf("detail = %q, want %q", got, want)
	}
	// Another organisation may use the same pair.
	h.create(h.token("org-b", "owner"), map[string]any{"provider": "openai", "account_key": "default"})
	h.checkConsistent()
}

func TestConcurrentCreatesGiveOne201(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-race", "admin")
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = h.do("POST", "/provider-credentials", admin,
				map[string]any{"provider": "groq", "account_key": "shared", "api_key": fmt.Sprintf("gsk_%04d_secret", i)}).status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("statuses = %v, want one 201 and %d 409", count, n-1)
	}
	h.checkConsistent()
}

func TestAuthorizationMatrix(t *testing.T) {
	h := newHarness(t)
	adminA := h.token("org-a", "admin")
	c := h.create(adminA, map[string]any{"provider": "mistral", "account_key": "default", "api_key": testKey})
	id := c.ID
	routes := []struct {
		method, path string
		admin        bool
		body         any
		ok           int
	}{
		{"GET", "/provider-credentials", false, nil, 200},
		{"POST", "/provider-credentials", true, map[string]any{"provider": "groq", "account_key": "k"}, 201},
		{"GET", "/provider-credentials/" + id, false, nil, 200},
		{"PATCH", "/provider-credentials/" + id, true, map[string]any{"display_name": "x"}, 200},
		{"DELETE", "/provider-credentials/" + id, true, nil, 204},
	}
	expired := h.tokenWith(map[string]any{"org_id": "org-a", "org_role": "admin", "exp": time.Now().Add(-time.Hour).Unix()})
	noOrg := h.tokenWith(map[string]any{"org_role": "admin"})
	noRole := h.tokenWith(map[string]any{"org_id": "org-a"})
	emptyRole := h.tokenWith(map[string]any{"org_id": "org-a", "org_role": ""})
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			for _, tc := range []struct {
				name, token string
				want        int
			}{
				{"no token", "", 401},
				{"garbage token", "not.a.jwt", 401},
				{"tampered token", adminA[:len(adminA)-4] + "AAAA", 401},
				{"expired token", expired, 401},
				{"no org claim", noOrg, 403},
				{"no role claim", noRole, 403},
				{"empty role", emptyRole, 403},
			} {
				r := h.do(rt.method, rt.path, tc.token, rt.body)
				if r.status != tc.want {
					t.Errorf("%s: status = %d, want %d (%s)", tc.name, r.status, tc.want, r.body)
				}
				if tc.want == 401 && string(r.body) != `{"message":"Unauthorized"}` {
					t.Errorf("%s: body = %s, want API Gateway's", tc.name, r.body)
				}
				if tc.want == 403 {
					if _, ok := r.detail(t).(string); !ok {
						t.Errorf("%s: body = %s, want a detail", tc.name, r.body)
					}
				}
			}
			member := h.token("org-a", "member")
			r := h.do(rt.method, rt.path, member, rt.body)
			if rt.admin && r.status != 403 {
				t.Errorf("member on admin route: status = %d, want 403", r.status)
			}
			if !rt.admin && r.status != rt.ok {
				t.Errorf("member on member route: status = %d, want %d", r.status, rt.ok)
			}
			if strings.Contains(rt.path, id) {
				other := h.token("org-b", "admin")
				r := h.do(rt.method, rt.path, other, rt.body)
				if r.status != 404 || r.detail(t) != "Not Found" {
					t.Errorf("other org: %d %s, want 404 Not Found", r.status, r.body)
				}
			} else if rt.method == "GET" {
				var list []credential
				r := h.do("GET", rt.path, h.token("org-b", "member"), nil)
				r.json(t, &list)
				if r.status != 200 || len(list) != 0 {
					t.Errorf("other org list: %d %s, want 200 []", r.status, r.body)
				}
			}
			r = h.do(rt.method, rt.path, adminA, rt.body)
			if r.status != rt.ok {
				t.Errorf("admin: status = %d, want %d (%s)", r.status, rt.ok, r.body)
			}
		})
	}
}

func TestRoleEncodingsAndConfigurableClaims(t *testing.T) {
	h := newHarness(t, "ORG_ID_CLAIM", "https://example.com/org", "ORG_ROLE_CLAIM", "roles", "ADMIN_ROLES", "boss, owner")
	body := map[string]any{"provider": "xai", "account_key": "k"}
	for i, tc := range []struct {
		roles any
		want  int
	}{
		{"boss", 201},                     // a plain string
		{[]string{"viewer", "boss"}, 201}, // an array: API Gateway flattens it to "[viewer boss]"
		{`["viewer","owner"]`, 201},       // a JSON array as a string
		{"[viewer owner]", 201},           // the flattened form as sent
		{"admin", 403},                    // not an admin role here
		{[]string{"viewer"}, 403},         // member only
	} {
		tok := h.tokenWith(map[string]any{"https://example.com/org": "org-c", "roles": tc.roles})
		body["account_key"] = fmt.Sprintf("k%d", i)
		if r := h.do("POST", "/provider-credentials", tok, body); r.status != tc.want {
			t.Errorf("roles %v: status = %d, want %d (%s)", tc.roles, r.status, tc.want, r.body)
		}
	}
	// The default claim names are not read once renamed.
	if r := h.do("GET", "/provider-credentials", h.token("org-c", "admin"), nil); r.status != 403 {
		t.Errorf("default claims: status = %d, want 403", r.status)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-a", "admin")
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "default", "api_key": testKey})
	big := `{"provider":"openai","account_key":"big","display_name":"` + strings.Repeat("x", 100<<10) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		want               int
		detail             string // a substring of the JSON detail
	}{
		{"invalid JSON", "POST", "/provider-credentials", `{"provider": "openai",`, 422, "json_invalid"},
		{"not an object", "POST", "/provider-credentials", `["openai"]`, 422, "model_attributes_type"},
		{"empty body", "POST", "/provider-credentials", "", 422, "missing"},
		{"missing provider", "POST", "/provider-credentials", map[string]any{"account_key": "x"}, 422, `"loc":["body","provider"]`},
		{"provider wrong type", "POST", "/provider-credentials", map[string]any{"provider": 7, "account_key": "x"}, 422, "string_type"},
		{"active wrong type", "POST", "/provider-credentials", map[string]any{"provider": "openai", "account_key": "x", "active": "maybe"}, 422, "bool_parsing"},
		{"api_key wrong type", "POST", "/provider-credentials", map[string]any{"provider": "openai", "account_key": "x", "api_key": []int{1}}, 422, `"loc":["body","api_key"]`},
		{"unsupported provider", "POST", "/provider-credentials", map[string]any{"provider": "skynet", "account_key": "x"}, 422,
			`Unsupported provider 'skynet'. Supported: ['anthropic', 'azure_openai', 'cohere', 'deepseek', 'fireworks', 'gemini', 'groq', 'mistral', 'openai', 'openai_compatible', 'openrouter', 'together', 'xai']`},
		{"compatible without base_url", "POST", "/provider-credentials", map[string]any{"provider": "openai_compatible", "account_key": "x"}, 422, "base_url"},
		{"malformed base_url", "POST", "/provider-credentials", map[string]any{"provider": "openai", "account_key": "x", "base_url": "not a url"}, 422, "base_url"},
		{"account_key too long", "POST", "/provider-credentials", map[string]any{"provider": "openai", "account_key": strings.Repeat("a", 1000)}, 422, "string_too_long"},
		{"body over 64 KiB", "POST", "/provider-credentials", big, 413, "too large"},
		{"id not a UUID", "GET", "/provider-credentials/not-a-uuid", nil, 422, "uuid_parsing"},
		{"patch id not a UUID", "PATCH", "/provider-credentials/123", map[string]any{"display_name": "x"}, 422, "uuid_parsing"},
		{"delete id not a UUID", "DELETE", "/provider-credentials/123", nil, 422, "uuid_parsing"},
		{"patch invalid JSON", "PATCH", "/provider-credentials/" + c.ID, `{`, 422, "json_invalid"},
		{"patch wrong type", "PATCH", "/provider-credentials/" + c.ID, map[string]any{"display_name": 5}, 422, "string_type"},
		{"patch non-https base_url", "PATCH", "/provider-credentials/" + c.ID, map[string]any{"base_url": "ftp://x"}, 422, "base_url"},
		{"patch body over 64 KiB", "PATCH", "/provider-credentials/" + c.ID, big, 413, "too large"},
		{"patch missing", "PATCH", "/provider-credentials/" + credentials.NewID(), map[string]any{"display_name": "x"}, 404, "Not Found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, admin, tc.body)
			if r.status != tc.want {
				t.Fatalf("status = %d, want %d; body %.300s", r.status, tc.want, r.body)
			}
			d, _ := json.Marshal(r.detail(t))
			if !strings.Contains(string(d), tc.detail) && !strings.Contains(strings.ToLower(string(d)), strings.ToLower(tc.detail)) {
				t.Fatalf("detail = %.300s, want it to contain %q", d, tc.detail)
			}
			if strings.Contains(string(r.body), testKey) {
				t.Fatalf("the key appears in the response")
			}
		})
	}
	// Unknown fields are ignored; the id forms Python's UUID accepts work.
	r := h.do("POST", "/provider-credentials", admin, map[string]any{"provider": "groq", "account_key": "x", "colour": "blue"})
	wantStatus(t, r, 201)
	wantStatus(t, h.do("GET", "/provider-credentials/"+strings.ToUpper(strings.ReplaceAll(c.ID, "-", "")), admin, nil), 200)

	// Nothing changed: the list holds the two valid credentials only, and
	// the first one is as created.
	var list []credential
	h.do("GET", "/provider-credentials", admin, nil).json(t, &list)
	if len(list) != 2 {
		t.Fatalf("list has %d credentials, want 2: %+v", len(list), list)
	}
	var got credential
	h.do("GET", "/provider-credentials/"+c.ID, admin, nil).json(t, &got)
	if gj, cj := mustJSON(t, got), mustJSON(t, c); gj != cj {
		t.Fatalf("credential changed by bad input: %+v, was %+v", got, c)
	}
	h.checkConsistent()
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-a", "admin")
	if r := h.do("PUT", "/provider-credentials", admin, nil); r.status != 404 {
		t.Errorf("PUT: status = %d, want 404 from API Gateway", r.status)
	}
	if r := h.do("GET", "/elsewhere", admin, nil); r.status != 404 {
		t.Errorf("GET /elsewhere: status = %d, want 404", r.status)
	}
}

func isCanonicalID(id string) bool {
	canon, ok := credentials.ParseID(id)
	return ok && canon == id
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOversizedOrgIDIs403(t *testing.T) {
	h := newHarness(t)
	tok := h.token(strings.Repeat("o", 3000), "admin")
	for _, r := range []response{
		h.do("GET", "/provider-credentials", tok, nil),
		h.do("POST", "/provider-credentials", tok, map[string]any{"provider": "openai", "account_key": "a", "api_key": testKey}),
	} {
		if r.status != 403 {
			t.Errorf("status = %d, want 403 (%s)", r.status, r.body)
		}
	}
}

func TestKeyWhitespaceAndBaseURLClearing(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-w", "admin")
	c := h.create(admin, map[string]any{"provider": "openai", "account_key": "a", "api_key": "sk-pasted-key-5678\n"})
	if c.APIKeyLastFour == nil || *c.APIKeyLastFour != "5678" || h.storedKey("org-w", c.ID) != "sk-pasted-key-5678" {
		t.Fatalf("a pasted key's newline was kept: last four %v", c.APIKeyLastFour)
	}
	if r := h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": "   "}); r.status != 422 {
		t.Fatalf("blank key: status = %d, want 422", r.status)
	}
	// SPEC: "base_url": "" clears the base URL, whatever the provider.
	oc := h.create(admin, map[string]any{"provider": "openai_compatible", "account_key": "vllm", "base_url": "https://llm.example.com/v1"})
	r := h.do("PATCH", "/provider-credentials/"+oc.ID, admin, map[string]any{"base_url": ""})
	wantStatus(t, r, 200)
	var u credential
	r.json(t, &u)
	if u.BaseURL != nil {
		t.Fatalf("base_url = %v after clearing", *u.BaseURL)
	}
	h.checkConsistent()
}

// TestConcurrentKeyWrites races PATCHes that set, rotate and clear the same
// credential's key, then a DELETE with a display-name PATCH and a key
// PATCH: whatever wins, the credential must be able to read the key it
// claims, the winner's key must be the one stored, and no live secret may
// be left unclaimed.
func TestConcurrentKeyWrites(t *testing.T) {
	h := newHarness(t)
	admin := h.token("org-k", "admin")
	for round := range 4 {
		body := map[string]any{"provider": "groq", "account_key": fmt.Sprintf("r%d", round)}
		if round%2 == 1 {
			body["api_key"] = "gsk_initial_0000"
		}
		c := h.create(admin, body)
		keys := []string{"gsk_writer_0_secret", "gsk_writer_1_secret", "gsk_writer_2_secret", "gsk_writer_3_secret", "gsk_writer_4_secret", ""}
		statuses := make([]int, len(keys))
		var wg sync.WaitGroup
		for i, key := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": key}).status
			}()
		}
		wg.Wait()
		var won []int
		for i, st := range statuses {
			switch st {
			case 200:
				won = append(won, i)
			case 409:
			default:
				t.Fatalf("round %d: statuses = %v, want only 200 and 409; log:\n%s", round, statuses, h.log.String())
			}
		}
		if len(won) == 0 {
			t.Fatalf("round %d: statuses = %v: no writer won", round, statuses)
		}
		if err := h.consistency(); err != nil {
			t.Fatalf("round %d (statuses %v): %v", round, statuses, err)
		}
		if len(won) == 1 && keys[won[0]] != "" {
			if got := h.storedKey("org-k", c.ID); got != keys[won[0]] {
				t.Fatalf("round %d: the stored key is not the winner's (writer %d)", round, won[0])
			}
		}
	}

	// A delete racing a display-name change and a key change.
	for round := range 3 {
		c := h.create(admin, map[string]any{"provider": "groq", "account_key": fmt.Sprintf("d%d", round), "api_key": "gsk_initial_0000"})
		var wg sync.WaitGroup
		statuses := make([]int, 3)
		for i, req := range []func() response{
			func() response { return h.do("DELETE", "/provider-credentials/"+c.ID, admin, nil) },
			func() response {
				return h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"display_name": "renamed"})
			},
			func() response {
				return h.do("PATCH", "/provider-credentials/"+c.ID, admin, map[string]any{"api_key": "gsk_racer_secret"})
			},
		} {
			wg.Add(1)
			go func() { defer wg.Done(); statuses[i] = req().status }()
		}
		wg.Wait()
		for _, st := range statuses {
			if st != 200 && st != 204 && st != 404 && st != 409 {
				t.Fatalf("delete race %d: statuses = %v", round, statuses)
			}
		}
		if err := h.consistency(); err != nil {
			t.Fatalf("delete race %d (statuses %v): %v", round, statuses, err)
		}
		// Whatever won, the credential can be deleted now.
		if r := h.do("DELETE", "/provider-credentials/"+c.ID, admin, nil); r.status != 204 && r.status != 404 {
			t.Fatalf("delete race %d: a later delete: %d %s", round, r.status, r.body)
		}
	}
	h.checkConsistent()
}
