package samtemplate

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Intrinsic is a CloudFormation intrinsic function, from its short form
// (!Ref X, !Sub "...", !GetAtt A.B) or its long form ({"Ref": X},
// {"Fn::Sub": "..."}). Fn is the long-form name: "Ref", "Condition" or
// "Fn::Sub", "Fn::GetAtt", "Fn::If"... Args is the argument as written:
// a string, a []any or a map[string]any; !GetAtt A.B becomes []any{"A", "B"}
// as its long form is.
type Intrinsic struct {
	Fn   string
	Args any
}

// String renders the intrinsic in its short form, for messages.
func (i Intrinsic) String() string {
	return fmt.Sprintf("!%s %v", strings.TrimPrefix(i.Fn, "Fn::"), i.Args)
}

func fnName(tag string) string {
	name := strings.TrimPrefix(tag, "!")
	if name == "Ref" || name == "Condition" {
		return name
	}
	return "Fn::" + name
}

func isCustomTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") && tag != "!"
}

// decode turns a yaml.v3 node into plain Go values: map[string]any, []any,
// string, int, float64, bool, nil, and Intrinsic.
func decode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return decode(n.Content[0])
	case yaml.AliasNode:
		return decode(n.Alias)
	case yaml.MappingNode:
		m, err := decodeMapping(n)
		if err != nil {
			return nil, err
		}
		if isCustomTag(n.Tag) {
			return Intrinsic{Fn: fnName(n.Tag), Args: m}, nil
		}
		if len(m) == 1 {
			for k, v := range m {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return Intrinsic{Fn: k, Args: v}, nil
				}
			}
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := decode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		if isCustomTag(n.Tag) {
			return Intrinsic{Fn: fnName(n.Tag), Args: s}, nil
		}
		return s, nil
	case yaml.ScalarNode:
		if isCustomTag(n.Tag) {
			fn := fnName(n.Tag)
			if fn == "Fn::GetAtt" {
				if res, attr, ok := strings.Cut(n.Value, "."); ok {
					return Intrinsic{Fn: fn, Args: []any{res, attr}}, nil
				}
			}
			return Intrinsic{Fn: fn, Args: n.Value}, nil
		}
		return decodeScalar(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

func decodeScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return i, nil
	case "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			var v float64
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return v, nil
		}
		return f, nil
	default: // !!str, !!timestamp, !!binary: keep the text
		return n.Value, nil
	}
}

func decodeMapping(n *yaml.Node) (map[string]any, error) {
	m := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, vn := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" { // << : *anchor
			merged, err := decode(vn)
			if err != nil {
				return nil, err
			}
			for _, src := range mergeSources(merged) {
				for mk, mv := range src {
					if _, ok := m[mk]; !ok {
						m[mk] = mv
					}
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
		}
		v, err := decode(vn)
		if err != nil {
			return nil, err
		}
		m[k.Value] = v
	}
	return m, nil
}

func mergeSources(v any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		var out []map[string]any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}
