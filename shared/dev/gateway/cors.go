package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// CORS is an HTTP API's CorsConfiguration, answered as API Gateway does:
// a preflight (OPTIONS with Origin and Access-Control-Request-Method) is
// answered by the gateway itself, before routing and without a token, 204
// with the allowed methods, headers and max age when its origin is
// allowed, and with no CORS headers when it is not. Every other response
// to an allowed origin carries Access-Control-Allow-Origin; the
// function's own CORS headers are dropped, as API Gateway ignores them.
type CORS struct {
	AllowOrigins []string // exact origins ("https://app.example.com"), or "*"
	AllowMethods []string
	AllowHeaders []string
	MaxAge       int // seconds; 0 sends none
}

// ParseOrigins splits a comma-separated origin list (the AllowedOrigins
// parameter's format); empty entries are dropped.
func ParseOrigins(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// allowed returns the Access-Control-Allow-Origin value for origin, or "".
func (c *CORS) allowed(origin string) string {
	if c == nil || origin == "" {
		return ""
	}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			return "*"
		}
		if strings.EqualFold(o, origin) {
			return origin
		}
	}
	return ""
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a preflight request.
func (c *CORS) preflight(w http.ResponseWriter, r *http.Request) int {
	if allow := c.allowed(r.Header.Get("Origin")); allow != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", allow)
		h.Set("Access-Control-Allow-Methods", strings.Join(c.AllowMethods, ","))
		h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowHeaders, ","))
		if c.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
		}
		if allow != "*" {
			h.Add("Vary", "Origin")
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

// corsWriter puts the gateway's CORS headers on a response, in place of
// any the function sent.
type corsWriter struct {
	http.ResponseWriter
	allow string // Access-Control-Allow-Origin; "" for none
	wrote bool
}

func (w *corsWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		for k := range h {
			if strings.HasPrefix(http.CanonicalHeaderKey(k), "Access-Control-") {
				delete(h, k)
			}
		}
		if w.allow != "" {
			h.Set("Access-Control-Allow-Origin", w.allow)
			if w.allow != "*" && !slices.Contains(h.Values("Vary"), "Origin") {
				h.Add("Vary", "Origin")
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
