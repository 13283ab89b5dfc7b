package localapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/acme/provider-credentials/shared/dev/awstest"
	"github.com/acme/provider-credentials/shared/dev/localapi"
)

// make run's CORS is the template's CorsConfiguration with the origins of
// ALLOWED_ORIGINS; unset, none.
func TestCORSFromTemplate(t *testing.T) {
	tpl, err := awstest.Template()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := localapi.CORS(tpl, ""); c != nil || err != nil {
		t.Fatalf("no origins: CORS = %+v, %v; want none", c, err)
	}
	c, err := localapi.CORS(tpl, "https://app.example.com")
	if err != nil || c == nil {
		t.Fatalf("CORS: %+v, %v", c, err)
	}
	has := func(list []string, v string) bool {
		for _, x := range list {
			if http.CanonicalHeaderKey(x) == http.CanonicalHeaderKey(v) {
				return true
			}
		}
		return false
	}
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if !has(c.AllowMethods, m) {
			t.Errorf("AllowMethods = %v, want %s among them", c.AllowMethods, m)
		}
	}
	for _, h := range []string{"Authorization", "Content-Type"} {
		if !has(c.AllowHeaders, h) {
			t.Errorf("AllowHeaders = %v, want %s among them", c.AllowHeaders, h)
		}
	}
	if c.MaxAge <= 0 || len(c.AllowOrigins) != 1 || c.AllowOrigins[0] != "https://app.example.com" {
		t.Errorf("CORS = %+v, want a max age and the one origin", c)
	}
}

// Through the whole local stack: a preflight from an allowed origin is
// answered with CORS headers, one from another origin without.
func TestCORSPreflightThroughTheLocalAPI(t *testing.T) {
	t.Setenv("ALLOWED_ORIGINS", "https://app.example.com")
	h := newHarness(t)
	for _, tc := range []struct{ origin, want string }{
		{"https://app.example.com", "https://app.example.com"},
		{"https://other.example.net", ""},
	} {
		req, _ := http.NewRequest("OPTIONS", "/provider-credentials", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Access-Control-Allow-Origin"); rec.Code != 204 || got != tc.want {
			t.Errorf("preflight from %s: %d, Allow-Origin %q; want 204, %q", tc.origin, rec.Code, got, tc.want)
		}
		if tc.want != "" && rec.Header().Get("Access-Control-Allow-Headers") == "" {
			t.Errorf("preflight from %s: no Access-Control-Allow-Headers", tc.origin)
		}
	}
}
