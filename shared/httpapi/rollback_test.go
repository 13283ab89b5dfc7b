package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/acme/provider-credentials/shared/httpapi"
)

func TestRollbackRoute(t *testing.T) {
	a := newAPI(t)
	c := a.create(t, `{"provider":"openai","account_key":"default","api_key":"sk-first-key-1111"}`)
	id := c["id"].(string)
	path := "/provider-credentials/" + id + "/rollback"
	usage := "/provider-credentials/" + id + "/usage"

	a.want(t, httpapi.RouteRollback, path, "", admin, 409, nil)
	a.want(t, httpapi.RouteRollback, path, "", member, 403, "Organisation admin access required.")
	a.want(t, httpapi.RouteRollback, path, "", nil, 401, nil)
	a.want(t, httpapi.RouteRollback, path, "", other, 404, "Not Found")
	a.want(t, httpapi.RouteRollback, "/provider-credentials/nope/rollback", "", admin, 422, nil)

	a.want(t, httpapi.RouteUpdate, "/provider-credentials/"+id, `{"api_key":"sk-second-key-2222"}`, admin, 200, nil)
	a.want(t, httpapi.RouteUsage, usage, "", member, 200, nil)
	if a.prober.lastKey != "sk-second-key-2222" {
		t.Fatal("the usage read after a rotation did not probe the new key")
	}
	probes := a.prober.probes
	body := a.want(t, httpapi.RouteRollback, path, "", admin, 200, nil)
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got["api_key_last_four"] != "1111" || got["api_key_updated_at"] != c["api_key_updated_at"] || got["updated_at"] == c["updated_at"] {
		t.Errorf("rolled back: %v; want last four 1111, the first key's api_key_updated_at %v, a new updated_at", got, c["api_key_updated_at"])
	}
	if strings.Contains(body, "sk-") {
		t.Errorf("the answer holds a key: %s", body)
	}
	// The cached result was made with the rotated key: the next read probes
	// with the restored one.
	a.want(t, httpapi.RouteUsage, usage, "", member, 200, nil)
	if a.prober.probes != probes+1 || a.prober.lastKey != "sk-first-key-1111" {
		t.Errorf("after a rollback: %d probes (want %d), with the restored key: %v", a.prober.probes, probes+1, a.prober.lastKey == "sk-first-key-1111")
	}
}
