package samtemplate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnresolved is wrapped by Resolve's errors: an intrinsic it cannot
// evaluate (a Ref to a name missing from refs, Fn::If, Fn::ImportValue...).
var ErrUnresolved = errors.New("unresolved intrinsic")

// ParameterValues returns every parameter's default, replaced by overrides
// (for example parameters given on the command line), as refs for Resolve.
// Parameters without a default or override are left out.
func (t *Template) ParameterValues(overrides map[string]string) map[string]string {
	refs := map[string]string{}
	for name, p := range t.Parameters {
		if p.HasDefault {
			refs[name] = p.Default
		}
	}
	for k, v := range overrides {
		refs[k] = v
	}
	return refs
}

// Resolve evaluates the intrinsics in v that refs can answer and returns a
// copy of v with them replaced by strings. refs maps a Ref target to its
// value: parameter names (see ParameterValues), pseudo parameters such as
// "AWS::Region", and, if the caller wants, resource logical IDs (a local
// table name) and "Resource.Attribute" for Fn::GetAtt. It evaluates Ref,
// Fn::Sub (both forms, ${Name}, ${Res.Attr}, ${!Literal}), Fn::GetAtt,
// Fn::Join and Fn::Select; any other intrinsic, or a name missing from refs,
// is an error wrapping ErrUnresolved.
func Resolve(v any, refs map[string]string) (any, error) {
	switch x := v.(type) {
	case Intrinsic:
		s, err := resolveIntrinsic(x, refs)
		if err != nil {
			return nil, err
		}
		return s, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := Resolve(e, refs)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := Resolve(e, refs)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// ResolveString resolves v and returns it as text: a string as it is, a
// number or boolean as its YAML text.
func ResolveString(v any, refs map[string]string) (string, error) {
	r, err := Resolve(v, refs)
	if err != nil {
		return "", err
	}
	switch r.(type) {
	case map[string]any, []any:
		return "", fmt.Errorf("samtemplate: %v is not a scalar", v)
	}
	return text(r), nil
}

// ResolveEnvironment returns the function's environment variables with
// their intrinsics resolved by refs.
func (f Function) ResolveEnvironment(refs map[string]string) (map[string]string, error) {
	env := make(map[string]string, len(f.Environment))
	names := make([]string, 0, len(f.Environment))
	for k := range f.Environment {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s, err := ResolveString(f.Environment[k], refs)
		if err != nil {
			return nil, fmt.Errorf("samtemplate: %s: environment %s: %w", f.LogicalID, k, err)
		}
		env[k] = s
	}
	return env, nil
}

func unresolved(i Intrinsic, why string) error {
	return fmt.Errorf("samtemplate: %v: %s: %w", i, why, ErrUnresolved)
}

func resolveIntrinsic(i Intrinsic, refs map[string]string) (string, error) {
	switch i.Fn {
	case "Ref":
		name, ok := i.Args.(string)
		if !ok {
			return "", unresolved(i, "argument is not a name")
		}
		v, ok := refs[name]
		if !ok {
			return "", unresolved(i, "no value for "+name)
		}
		return v, nil
	case "Fn::GetAtt":
		var parts []string
		switch a := i.Args.(type) {
		case string:
			parts = []string{a}
		case []any:
			for _, p := range a {
				s, err := ResolveString(p, refs)
				if err != nil {
					return "", err
				}
				parts = append(parts, s)
			}
		}
		key := strings.Join(parts, ".")
		v, ok := refs[key]
		if !ok {
			return "", unresolved(i, "no value for "+key)
		}
		return v, nil
	case "Fn::Sub":
		return resolveSub(i, refs)
	case "Fn::Join":
		a, ok := i.Args.([]any)
		if !ok || len(a) != 2 {
			return "", unresolved(i, "want [delimiter, list]")
		}
		delim, ok := a[0].(string)
		if !ok {
			return "", unresolved(i, "delimiter is not a string")
		}
		list, err := resolveList(a[1], refs)
		if err != nil {
			return "", err
		}
		return strings.Join(list, delim), nil
	case "Fn::Select":
		a, ok := i.Args.([]any)
		if !ok || len(a) != 2 {
			return "", unresolved(i, "want [index, list]")
		}
		idx, err := ResolveString(a[0], refs)
		if err != nil {
			return "", err
		}
		var n int
		if _, err := fmt.Sscan(idx, &n); err != nil {
			return "", unresolved(i, "index is not a number")
		}
		list, err := resolveList(a[1], refs)
		if err != nil {
			return "", err
		}
		if n < 0 || n >= len(list) {
			return "", unresolved(i, "index out of range")
		}
		return list[n], nil
	default:
		return "", unresolved(i, "not evaluated locally")
	}
}

func resolveList(v any, refs map[string]string) ([]string, error) {
	if i, ok := v.(Intrinsic); ok && i.Fn == "Fn::Split" {
		a, ok := i.Args.([]any)
		if !ok || len(a) != 2 {
			return nil, unresolved(i, "want [delimiter, string]")
		}
		delim, _ := a[0].(string)
		s, err := ResolveString(a[1], refs)
		if err != nil {
			return nil, err
		}
		return strings.Split(s, delim), nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("samtemplate: %v is not a list: %w", v, ErrUnresolved)
	}
	out := make([]string, len(l))
	for k, e := range l {
		s, err := ResolveString(e, refs)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

func resolveSub(i Intrinsic, refs map[string]string) (string, error) {
	var tmpl string
	vars := map[string]string{}
	switch a := i.Args.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return "", unresolved(i, "want [template, variables]")
		}
		s, ok := a[0].(string)
		if !ok {
			return "", unresolved(i, "template is not a string")
		}
		tmpl = s
		for k, v := range mapOf(a[1]) {
			r, err := ResolveString(v, refs)
			if err != nil {
				return "", err
			}
			vars[k] = r
		}
	default:
		return "", unresolved(i, "bad arguments")
	}
	var b strings.Builder
	for {
		start := strings.Index(tmpl, "${")
		if start < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		end := strings.Index(tmpl[start:], "}")
		if end < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		b.WriteString(tmpl[:start])
		name := tmpl[start+2 : start+end]
		tmpl = tmpl[start+end+1:]
		if strings.HasPrefix(name, "!") { // ${!Literal} is the text ${Literal}
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		name = strings.TrimSpace(name)
		if v, ok := vars[name]; ok {
			b.WriteString(v)
		} else if v, ok := refs[name]; ok {
			b.WriteString(v)
		} else {
			return "", unresolved(i, "no value for "+name)
		}
	}
}
