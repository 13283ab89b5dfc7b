// Package samtemplate reads the SAM template.yaml, so that the local runner
// and the tests take functions, routes, schedules, environment and tables
// from it instead of repeating them. CloudFormation intrinsics (!Ref, !Sub,
// !GetAtt, ... and their long forms) are kept as Intrinsic values.
package samtemplate

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// FunctionType is the SAM resource type of a function.
const FunctionType = "AWS::Serverless::Function"

// Template is a parsed SAM template.
type Template struct {
	FormatVersion string // AWSTemplateFormatVersion
	Transform     any
	Description   string
	Parameters    map[string]Parameter
	Conditions    map[string]any
	Globals       Globals
	Resources     map[string]Resource
	Outputs       map[string]any
}

// Parameter is one template parameter. Default and AllowedValues are the
// text of the values (a numeric default 30 is "30").
type Parameter struct {
	Type          string
	Description   string
	Default       string
	HasDefault    bool
	AllowedValues []string
}

// Globals holds the Globals section: its properties are merged into every
// resource of the type, as SAM does (see merge).
type Globals struct {
	Function    map[string]any
	HttpApi     map[string]any
	Api         map[string]any
	SimpleTable map[string]any
}

// Resource is one resource, with its properties as written (intrinsics
// kept).
type Resource struct {
	Type          string
	Properties    map[string]any
	Metadata      map[string]any
	Condition     string
	DependsOn     any
	IgnoreGlobals any // "*" or a list of property names
	// DeletionPolicy and UpdateReplacePolicy as written ("" when absent).
	DeletionPolicy, UpdateReplacePolicy string
}

// Load reads and parses a SAM template.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template from YAML (or JSON) text.
func Parse(b []byte) (*Template, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	v, err := decode(&root)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse: top level is %T, want a mapping", v)
	}
	t := &Template{
		FormatVersion: str(top["AWSTemplateFormatVersion"]),
		Transform:     top["Transform"],
		Description:   str(top["Description"]),
		Conditions:    mapOf(top["Conditions"]),
		Outputs:       mapOf(top["Outputs"]),
		Parameters:    map[string]Parameter{},
		Resources:     map[string]Resource{},
	}
	for name, pv := range mapOf(top["Parameters"]) {
		p := mapOf(pv)
		def, hasDef := p["Default"]
		param := Parameter{Type: str(p["Type"]), Description: str(p["Description"]), HasDefault: hasDef}
		if hasDef {
			param.Default = text(def)
		}
		for _, a := range listOf(p["AllowedValues"]) {
			param.AllowedValues = append(param.AllowedValues, text(a))
		}
		t.Parameters[name] = param
	}
	g := mapOf(top["Globals"])
	t.Globals = Globals{
		Function:    mapOf(g["Function"]),
		HttpApi:     mapOf(g["HttpApi"]),
		Api:         mapOf(g["Api"]),
		SimpleTable: mapOf(g["SimpleTable"]),
	}
	for id, rv := range mapOf(top["Resources"]) {
		r, ok := rv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("parse: resource %s is %T, want a mapping", id, rv)
		}
		typ := str(r["Type"])
		if typ == "" {
			return nil, fmt.Errorf("parse: resource %s has no Type", id)
		}
		t.Resources[id] = Resource{
			Type:          typ,
			Properties:    mapOf(r["Properties"]),
			Metadata:      mapOf(r["Metadata"]),
			Condition:     str(r["Condition"]),
			DependsOn:     r["DependsOn"],
			IgnoreGlobals: r["IgnoreGlobals"],

			DeletionPolicy:      str(r["DeletionPolicy"]),
			UpdateReplacePolicy: str(r["UpdateReplacePolicy"]),
		}
	}
	return t, nil
}

// ResourcesOfType returns the logical IDs of the resources of a type, sorted.
func (t *Template) ResourcesOfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Function is an AWS::Serverless::Function with Globals.Function merged in.
type Function struct {
	LogicalID     string
	CodeURI       string // CodeUri when it is a string
	Handler       string
	Runtime       string
	Architectures []string // as written; nil means SAM's default, x86_64
	BuildMethod   string   // Metadata.BuildMethod
	// Environment is Environment.Variables, values as written (strings or
	// Intrinsics); see ResolveEnvironment.
	Environment map[string]any
	Policies    []any          // as written: names, SAM policy templates, statements
	Events      []Event        // sorted by Name
	Properties  map[string]any // all effective properties
}

// Event is one entry of a function's Events.
type Event struct {
	Name   string
	Type   string // "HttpApi", "Api", "Schedule", "ScheduleV2", ...
	Method string // HttpApi and Api: upper case ("GET", "ANY")
	Path   string // HttpApi and Api
	// Schedule is a Schedule event's Schedule or a ScheduleV2 event's
	// ScheduleExpression: a string or an Intrinsic.
	Schedule   any
	Properties map[string]any
}

// Functions returns the template's functions sorted by logical ID, each with
// the Globals merged in.
func (t *Template) Functions() []Function {
	var fns []Function
	for _, id := range t.ResourcesOfType(FunctionType) {
		r := t.Resources[id]
		props := mergeGlobals(t.Globals.Function, r.Properties, r.IgnoreGlobals)
		f := Function{
			LogicalID:   id,
			CodeURI:     str(props["CodeUri"]),
			Handler:     str(props["Handler"]),
			Runtime:     str(props["Runtime"]),
			BuildMethod: str(r.Metadata["BuildMethod"]),
			Environment: mapOf(mapOf(props["Environment"])["Variables"]),
			Properties:  props,
		}
		for _, a := range listOf(props["Architectures"]) {
			f.Architectures = append(f.Architectures, text(a))
		}
		switch p := props["Policies"].(type) {
		case nil:
		case []any:
			f.Policies = p
		default: // a single policy name, document or intrinsic
			f.Policies = []any{p}
		}
		for name, ev := range mapOf(props["Events"]) {
			e := mapOf(ev)
			ep := mapOf(e["Properties"])
			event := Event{Name: name, Type: str(e["Type"]), Properties: ep}
			switch event.Type {
			case "HttpApi", "Api":
				event.Method = strings.ToUpper(str(ep["Method"]))
				event.Path = str(ep["Path"])
			case "Schedule":
				event.Schedule = ep["Schedule"]
			case "ScheduleV2":
				event.Schedule = ep["ScheduleExpression"]
			}
			f.Events = append(f.Events, event)
		}
		sort.Slice(f.Events, func(i, j int) bool { return f.Events[i].Name < f.Events[j].Name })
		fns = append(fns, f)
	}
	return fns
}

// HTTPRoutes returns "METHOD /path" of every HttpApi event of the
// template's functions, sorted, each once: the one route list the template
// and OpenAPI checks share (templatecheck asserts it is SPEC's).
func (t *Template) HTTPRoutes() []string {
	var routes []string
	for _, fn := range t.Functions() {
		for _, ev := range fn.Events {
			if ev.Type == "HttpApi" {
				routes = append(routes, ev.Method+" "+ev.Path)
			}
		}
	}
	slices.Sort(routes)
	return slices.Compact(routes)
}

// Function returns the function with the given logical ID.
func (t *Template) Function(logicalID string) (Function, bool) {
	for _, f := range t.Functions() {
		if f.LogicalID == logicalID {
			return f, true
		}
	}
	return Function{}, false
}

// mergeGlobals merges Globals properties into a resource's as SAM does:
// maps merge key by key, lists concatenate (globals first), anything else
// (including an intrinsic) is replaced by the resource's value.
// IgnoreGlobals "*" or a list of names skips those globals.
func mergeGlobals(globals, local map[string]any, ignore any) map[string]any {
	g := map[string]any{}
	skip := map[string]bool{}
	switch x := ignore.(type) {
	case string:
		if x == "*" {
			globals = nil
		}
	case []any:
		for _, n := range x {
			skip[text(n)] = true
		}
	}
	for k, v := range globals {
		if !skip[k] {
			g[k] = v
		}
	}
	return merge(g, local).(map[string]any)
}

func merge(global, local any) any {
	switch gl := global.(type) {
	case map[string]any:
		lm, ok := local.(map[string]any)
		if !ok {
			return local
		}
		out := make(map[string]any, len(gl)+len(lm))
		for k, v := range gl {
			out[k] = v
		}
		for k, v := range lm {
			if gv, ok := out[k]; ok {
				out[k] = merge(gv, v)
			} else {
				out[k] = v
			}
		}
		return out
	case []any:
		ll, ok := local.([]any)
		if !ok {
			return local
		}
		return append(append([]any{}, gl...), ll...)
	default:
		return local
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// text is the text of a scalar: "30" for 30, "true" for true.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}
