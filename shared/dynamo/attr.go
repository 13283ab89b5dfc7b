package dynamo

import (
	"fmt"
	"strconv"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Items are read and written field by field rather than through the SDK's
// reflection-based attributevalue package: a few typed accessors cover the
// handful of shapes stored here, cost a fraction of the allocations, and
// keep about 0.2 MB out of every function's binary.

type item = map[string]ddbtypes.AttributeValue

func sAttr(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
func nAttr(v int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func bAttr(v bool) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberBOOL{Value: v} }

// reader reads typed attributes of one item, remembering the first
// attribute that was missing or of another type.
type reader struct {
	it  item
	err error
}

func (r *reader) fail(name, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("attribute %s: want %s", name, want)
	}
}

// str reads a required string attribute.
func (r *reader) str(name string) string {
	if v, ok := r.it[name].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	r.fail(name, "a string")
	return ""
}

// optStr reads a string attribute that may be absent (or NULL).
func (r *reader) optStr(name string) *string {
	switch v := r.it[name].(type) {
	case nil, *ddbtypes.AttributeValueMemberNULL:
		return nil
	case *ddbtypes.AttributeValueMemberS:
		s := v.Value
		return &s
	}
	r.fail(name, "a string or nothing")
	return nil
}

// strOr reads a string attribute, "" when absent.
func (r *reader) strOr(name string) string {
	if p := r.optStr(name); p != nil {
		return *p
	}
	return ""
}

// boolean reads a boolean attribute, false when absent.
func (r *reader) boolean(name string) bool {
	switch v := r.it[name].(type) {
	case nil:
		return false
	case *ddbtypes.AttributeValueMemberBOOL:
		return v.Value
	}
	r.fail(name, "a boolean")
	return false
}

// num reads a whole-number attribute, 0 when absent.
func (r *reader) num(name string) int64 {
	switch v := r.it[name].(type) {
	case nil:
		return 0
	case *ddbtypes.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err == nil {
			return n
		}
	}
	r.fail(name, "a whole number")
	return 0
}
