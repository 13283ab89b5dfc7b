package changefeed

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// The credentials table's item layout, as far as the feed reads it (the
// adapter, shared/dynamo, owns it; a test holds the two together).
const (
	credPrefix  = "CRED#"
	guardPrefix = "UNIQ#"
	cursorPK    = "#refresh"
)

// Health attributes of a credential item, set or removed only by the
// health write (dynamo.PutHealth; the names are dynamo.HealthAttrs).
const (
	attrHealthStatus      = "health_status"
	attrHealthCode        = "health_code"
	attrFailingSince      = "failing_since"
	attrLastOKAt          = "last_ok_at"
	attrHealthCheckedAt   = "health_checked_at"
	attrHealthFingerprint = "health_fingerprint"
	attrQuotaLowWindow    = "quota_low_window"
	attrQuotaLowPct       = "quota_low_pct"
	attrQuotaLowResetAt   = "quota_low_reset_at"
	attrHealthStaleKey    = "health_stale_key"
)

// healthAttributes are all of them, in dynamo.HealthAttrs' order.
var healthAttributes = []string{attrHealthStatus, attrHealthCode, attrFailingSince, attrLastOKAt,
	attrHealthCheckedAt, attrHealthFingerprint, attrQuotaLowWindow, attrQuotaLowPct, attrQuotaLowResetAt, attrHealthStaleKey}

// lockAttributes are set and removed only by the locking writes (Lock,
// Fence, Unlock): dynamo.LockAttributes.
var lockAttributes = []string{"key_lock", "key_lock_until", "key_lock_by"}

type image = map[string]events.DynamoDBAttributeValue

// str reads a string attribute; "" when absent or of another type.
func str(im image, name string) string {
	if v, ok := im[name]; ok && v.DataType() == events.DataTypeString {
		return v.String()
	}
	return ""
}

// optStr reads a string attribute; nil when absent or of another type.
func optStr(im image, name string) *string {
	if v, ok := im[name]; ok && v.DataType() == events.DataTypeString {
		s := v.String()
		return &s
	}
	return nil
}

func boolean(im image, name string) bool {
	v, ok := im[name]
	return ok && v.DataType() == events.DataTypeBoolean && v.Boolean()
}

// float reads a number attribute.
func float(im image, name string) (float64, bool) {
	v, ok := im[name]
	if !ok || v.DataType() != events.DataTypeNumber {
		return 0, false
	}
	f, err := v.Float()
	return f, err == nil
}

func num(im image, name string) (int64, bool) {
	v, ok := im[name]
	if !ok || v.DataType() != events.DataTypeNumber {
		return 0, false
	}
	n, err := v.Int64()
	return n, err == nil
}

// keyOf returns the record's pk and sk, from its keys or either image.
func keyOf(r events.DynamoDBEventRecord) (pk, sk string) {
	for _, im := range []image{r.Change.Keys, r.Change.NewImage, r.Change.OldImage} {
		if pk, sk = str(im, "pk"), str(im, "sk"); pk != "" || sk != "" {
			return pk, sk
		}
	}
	return "", ""
}

// Relevant reports whether a stream record can publish anything: a change
// of a credential item (its health included). Uniqueness guards, refresh
// cursors and any other item kind publish nothing. It is the code's copy of the stream
// filter in template.yaml (which also drops Lock and Fence writes; Map
// drops every lock-only write).
func Relevant(r events.DynamoDBEventRecord) bool {
	pk, sk := keyOf(r)
	if pk == cursorPK {
		return false
	}
	return strings.HasPrefix(sk, credPrefix)
}

// sameExcept reports whether two images hold the same attributes, leaving
// out the named ones.
func sameExcept(a, b image, skip []string) bool {
	ignored := func(k string) bool {
		for _, s := range skip {
			if k == s {
				return true
			}
		}
		return false
	}
	n := 0
	for k, av := range a {
		if ignored(k) {
			continue
		}
		n++
		bv, ok := b[k]
		if !ok || !sameValue(av, bv) {
			return false
		}
	}
	for k := range b {
		if !ignored(k) {
			n--
		}
	}
	return n == 0
}

func sameValue(a, b events.DynamoDBAttributeValue) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func sameAttr(a, b image, name string) bool {
	av, aok := a[name]
	bv, bok := b[name]
	return aok == bok && (!aok || sameValue(av, bv))
}
