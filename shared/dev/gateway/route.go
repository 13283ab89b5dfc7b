package gateway

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// segment kinds, in order of precedence: API Gateway prefers a literal
// segment to a {param}, and a {param} to a greedy {proxy+}.
const (
	literal = iota
	param
	greedy
)

type segment struct {
	kind int
	text string // the literal, or the parameter name
}

type route struct {
	method   string // "ANY" matches every method
	path     string
	routeKey string
	segs     []segment
	invoke   Invoker
}

func parseRoute(r Route) (route, error) {
	method := strings.ToUpper(r.Method)
	if method == "" || strings.ContainsAny(method, " /") {
		return route{}, fmt.Errorf("gateway: route %q %q: bad method", r.Method, r.Path)
	}
	if r.Invoke == nil {
		return route{}, fmt.Errorf("gateway: route %s %s: nil Invoke", method, r.Path)
	}
	if !strings.HasPrefix(r.Path, "/") {
		return route{}, fmt.Errorf("gateway: route %s %q: path must start with /", method, r.Path)
	}
	parts := strings.Split(r.Path[1:], "/")
	segs := make([]segment, 0, len(parts))
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "+}"):
			if i != len(parts)-1 {
				return route{}, fmt.Errorf("gateway: route %s %s: greedy %s must be last", method, r.Path, p)
			}
			segs = append(segs, segment{kind: greedy, text: p[1 : len(p)-2]})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			segs = append(segs, segment{kind: param, text: p[1 : len(p)-1]})
		case strings.ContainsAny(p, "{}"):
			return route{}, fmt.Errorf("gateway: route %s %s: bad segment %q", method, r.Path, p)
		default:
			segs = append(segs, segment{kind: literal, text: p})
		}
		if s := segs[len(segs)-1]; s.kind != literal && s.text == "" {
			return route{}, fmt.Errorf("gateway: route %s %s: empty parameter name", method, r.Path)
		}
	}
	return route{method: method, path: r.Path, routeKey: method + " " + r.Path, segs: segs, invoke: r.Invoke}, nil
}

// shape is the route with parameter names erased: two routes of one method
// and one shape are the same route to API Gateway.
func (r route) shape() string {
	var b strings.Builder
	b.WriteString(r.method)
	for _, s := range r.segs {
		b.WriteByte('/')
		switch s.kind {
		case literal:
			b.WriteString(s.text)
		case param:
			b.WriteString("{}")
		case greedy:
			b.WriteString("{+}")
		}
	}
	return b.String()
}

// match reports whether the escaped request path matches r, with the decoded
// path parameters.
func (r route) match(escapedPath string) (map[string]string, bool) {
	if !strings.HasPrefix(escapedPath, "/") {
		return nil, false
	}
	parts := strings.Split(escapedPath[1:], "/")
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = map[string]string{}
		}
		params[k] = v
	}
	for i, s := range r.segs {
		if i >= len(parts) {
			return nil, false
		}
		if s.kind == greedy {
			v, err := url.PathUnescape(strings.Join(parts[i:], "/"))
			if err != nil || v == "" {
				return nil, false
			}
			set(s.text, v)
			return params, true
		}
		v, err := url.PathUnescape(parts[i])
		if err != nil {
			return nil, false
		}
		switch s.kind {
		case literal:
			if v != s.text {
				return nil, false
			}
		case param:
			if v == "" {
				return nil, false
			}
			set(s.text, v)
		}
	}
	return params, len(parts) == len(r.segs)
}

// moreSpecific reports whether a wins over b when both match a request:
// segment by segment, literal before {param} before {proxy+}; then an exact
// method before ANY.
func moreSpecific(a, b route) bool {
	ka := make([]int, len(a.segs))
	for i, s := range a.segs {
		ka[i] = s.kind
	}
	kb := make([]int, len(b.segs))
	for i, s := range b.segs {
		kb[i] = s.kind
	}
	if c := slices.Compare(ka, kb); c != 0 {
		return c < 0
	}
	return a.method != "ANY" && b.method == "ANY"
}
