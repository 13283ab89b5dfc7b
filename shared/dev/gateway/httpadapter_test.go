package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/acme/provider-credentials/shared/dev/authn"
)

// TestHTTPAdapter puts the real aws-lambda-go-api-proxy adapter behind the
// gateway, as each Lambda's main.go does.
func TestHTTPAdapter(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /provider-credentials/{credential_id}", func(w http.ResponseWriter, r *http.Request) {
		rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
		if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
			http.Error(w, "no authorizer", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"id":      r.PathValue("credential_id"),
			"org":     rc.Authorizer.JWT.Claims["org_id"],
			"role":    rc.Authorizer.JWT.Claims["org_role"],
			"refresh": r.URL.Query().Get("refresh"),
		})
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
		_, _ = w.Write(b)
	})
	fn := httpadapter.NewV2(mux).ProxyWithContext

	dev, err := authn.NewDevIssuer()
	if err != nil {
		t.Fatal(err)
	}
	h, err := New([]Route{
		{Method: "GET", Path: "/provider-credentials/{credential_id}", Invoke: fn},
		{Method: "POST", Path: "/echo", Invoke: fn},
	}, dev.Verifier(), Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := authn.DevClaims("alice", time.Hour, time.Now())
	c["org_id"] = "org-a"
	c["org_role"] = []string{"admin", "billing"}
	tok, err := dev.Sign(c)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("claims and path value", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL+"/provider-credentials/8f1c?refresh=true", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var got map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatalf("status %d, decode: %v", resp.StatusCode, err)
		}
		want := map[string]string{"id": "8f1c", "org": "org-a", "role": "[admin billing]", "refresh": "true"}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s = %q, want %q", k, got[k], w)
			}
		}
	})

	t.Run("binary body round trip", func(t *testing.T) {
		in := "\xff\x00binary\xfe"
		req, _ := http.NewRequest("POST", srv.URL+"/echo", strings.NewReader(in))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(out) != in {
			t.Errorf("got %d %q, want 200 %q", resp.StatusCode, out, in)
		}
		if got := resp.Header.Get("Set-Cookie"); got != "s=1" {
			t.Errorf("Set-Cookie = %q, want s=1", got)
		}
	})

	t.Run("unauthorized never reaches the handler", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/provider-credentials/8f1c")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
	})
}
