package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/acme/provider-credentials/shared/credentials"
)

// MaxBody is the largest request body accepted: 64 KiB.
const MaxBody = 64 << 10

// readBody reads the request body up to MaxBody; over it, kind TooLarge.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBody {
		return nil, tooLarge()
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge()
	}
	if err != nil {
		return nil, &credentials.Error{Kind: credentials.Invalid, Detail: "Could not read the request body.", Err: err}
	}
	return b, nil
}

func tooLarge() error {
	return credentials.Errorf(credentials.TooLarge, "Request body too large (limit %d bytes).", MaxBody)
}

// object parses a JSON object body the way FastAPI does, collecting field
// errors as pydantic words them. Values are never echoed back: a wrongly
// typed api_key must not appear in an error.
type object struct {
	fields map[string]json.RawMessage
	errs   []credentials.FieldError
}

// decodeObject reads the request body (up to MaxBody) and parses it as a
// JSON object.
func decodeObject(w http.ResponseWriter, r *http.Request) (*object, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	return parseObject(body)
}

func parseObject(body []byte) (*object, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid(credentials.FieldError{Loc: []any{"body"}, Msg: "Field required", Type: "missing"})
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return nil, invalid(credentials.FieldError{Loc: []any{"body", offset(dec, err)}, Msg: "JSON decode error", Type: "json_invalid"})
	}
	if _, ok := raw.(map[string]any); !ok {
		return nil, invalid(credentials.FieldError{Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Type: "model_attributes_type"})
	}
	o := &object{}
	if err := json.Unmarshal(body, &o.fields); err != nil {
		return nil, invalid(credentials.FieldError{Loc: []any{"body", 0}, Msg: "JSON decode error", Type: "json_invalid"})
	}
	return o, nil
}

func offset(dec *json.Decoder, err error) int64 {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	return dec.InputOffset()
}

func invalid(fe ...credentials.FieldError) error {
	return &credentials.Error{Kind: credentials.Invalid, Detail: fe}
}

func (o *object) fail(name, msg, typ string) {
	o.errs = append(o.errs, credentials.FieldError{Loc: []any{"body", name}, Msg: msg, Type: typ})
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// str reads a required string field.
func (o *object) str(name string) string {
	v, ok := o.fields[name]
	if !ok {
		o.fail(name, "Field required", "missing")
		return ""
	}
	var s string
	if isNull(v) || json.Unmarshal(v, &s) != nil {
		o.fail(name, "Input should be a valid string", "string_type")
	}
	return s
}

// strOr reads a string field that defaults to def when absent.
func (o *object) strOr(name, def string) string {
	if _, ok := o.fields[name]; !ok {
		return def
	}
	return o.str(name)
}

// optStr reads an optional string: nil when absent or null.
func (o *object) optStr(name string) *string {
	v, ok := o.fields[name]
	if !ok || isNull(v) {
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		o.fail(name, "Input should be a valid string", "string_type")
		return nil
	}
	return &s
}

// optBool reads an optional boolean, as leniently as pydantic: JSON
// booleans, 0 and 1, and the strings it accepts.
func (o *object) optBool(name string) *bool {
	v, ok := o.fields[name]
	if !ok || isNull(v) {
		return nil
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return &b
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1", "yes", "y", "on", "t":
			b = true
			return &b
		case "false", "0", "no", "n", "off", "f":
			return &b
		}
		o.fail(name, "Input should be a valid boolean, unable to interpret input", "bool_parsing")
		return nil
	}
	switch string(bytes.TrimSpace(v)) {
	case "1", "1.0":
		b = true
		return &b
	case "0", "0.0":
		return &b
	}
	o.fail(name, "Input should be a valid boolean", "bool_type")
	return nil
}

// err returns the collected field errors as one 422, or nil.
func (o *object) err() error {
	if len(o.errs) == 0 {
		return nil
	}
	return invalid(o.errs...)
}
