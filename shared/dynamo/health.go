package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/acme/provider-credentials/shared/credentials"
)

// Health attributes of a credential item (credentials.Health). A health
// write (PutHealth) sets or removes only these, so a stream consumer can
// tell a health-only change from a credential change: every other
// attribute, revision and updated_at included, is the same in its old and
// new images. A credential write (Create, Replace) carries them as read.
//
// For a publisher: health changed when health_status or health_code
// differs between the images, or failing_since does (failing again after
// a key change: health found with an older key, health_fingerprint other
// than the one the item's key version and base URL give, is served as
// unknown); a changed last_ok_at or health_checked_at alone is the hourly
// refresh of a healthy key, not an event. Quota low fired when
// quota_low_reset_at (or quota_low_window) differs.
const (
	AttrHealthStatus      = "health_status"      // S: ok or failing; absent: unknown
	AttrHealthCode        = "health_code"        // S: the usage error_code while failing
	AttrFailingSince      = "failing_since"      // S (RFC 3339): when it became failing
	AttrLastOKAt          = "last_ok_at"         // S (RFC 3339): last probe that found the key working, at most hourly
	AttrHealthCheckedAt   = "health_checked_at"  // S (RFC 3339): when the health was last written
	AttrHealthFingerprint = "health_fingerprint" // S: the probe fingerprint (key version, base URL) it was found with
	AttrQuotaLowWindow    = "quota_low_window"   // S: the window whose remaining fell under QuotaLowPercent
	AttrQuotaLowPct       = "quota_low_pct"      // N: its remaining, percent of its limit
	AttrQuotaLowResetAt   = "quota_low_reset_at" // S (RFC 3339): its reset; the marker is written once per reset
	AttrHealthStaleKey    = "health_stale_key"   // BOOL: the key was found older than KEY_MAX_AGE_DAYS (marked once)
)

// HealthAttrs lists the health attributes, for a stream consumer that
// compares old and new images.
var HealthAttrs = []string{AttrHealthStatus, AttrHealthCode, AttrFailingSince, AttrLastOKAt,
	AttrHealthCheckedAt, AttrHealthFingerprint, AttrQuotaLowWindow, AttrQuotaLowPct, AttrQuotaLowResetAt, AttrHealthStaleKey}

// healthValues are h's attributes; an absent one is not in the map.
func healthValues(h credentials.Health) item {
	it := item{}
	if h.Status == "" || h.Status == credentials.HealthUnknown {
		return it
	}
	it[AttrHealthStatus] = sAttr(string(h.Status))
	it[AttrHealthFingerprint] = sAttr(h.Fingerprint)
	if h.ErrorCode != nil {
		it[AttrHealthCode] = sAttr(*h.ErrorCode)
	}
	for name, t := range map[string]time.Time{AttrFailingSince: h.FailingSince, AttrLastOKAt: h.LastOKAt, AttrHealthCheckedAt: h.CheckedAt} {
		if !t.IsZero() {
			it[name] = sAttr(credentials.FormatTime(t))
		}
	}
	if h.StaleKey {
		it[AttrHealthStaleKey] = &ddbtypes.AttributeValueMemberBOOL{Value: true}
	}
	if q := h.QuotaLow; q != nil {
		it[AttrQuotaLowWindow] = sAttr(q.Window)
		it[AttrQuotaLowPct] = &ddbtypes.AttributeValueMemberN{Value: strconv.FormatFloat(q.RemainingPct, 'f', -1, 64)}
		it[AttrQuotaLowResetAt] = sAttr(credentials.FormatTime(q.ResetAt))
	}
	return it
}

// addHealth puts h's attributes on a credential item.
func addHealth(it item, h credentials.Health) {
	for k, v := range healthValues(h) {
		it[k] = v
	}
}

// readHealth reads the health attributes; unreadable ones read as absent
// (health is advisory: a bad attribute must not make a credential
// unreadable).
func readHealth(it item) credentials.Health {
	rd := reader{it: it}
	status := rd.optStr(AttrHealthStatus)
	if status == nil || rd.err != nil {
		return credentials.Health{}
	}
	t := func(name string) time.Time {
		r := reader{it: it}
		s := r.optStr(name)
		if s == nil || r.err != nil {
			return time.Time{}
		}
		v, err := time.Parse(time.RFC3339Nano, *s)
		if err != nil {
			return time.Time{}
		}
		return v
	}
	h := credentials.Health{
		Status: credentials.HealthStatus(*status), ErrorCode: rd.optStr(AttrHealthCode),
		FailingSince: t(AttrFailingSince), LastOKAt: t(AttrLastOKAt), CheckedAt: t(AttrHealthCheckedAt),
		Fingerprint: rd.strOr(AttrHealthFingerprint),
	}
	if b, ok := it[AttrHealthStaleKey].(*ddbtypes.AttributeValueMemberBOOL); ok {
		h.StaleKey = b.Value
	}
	window, reset := rd.optStr(AttrQuotaLowWindow), t(AttrQuotaLowResetAt)
	if n, ok := it[AttrQuotaLowPct].(*ddbtypes.AttributeValueMemberN); ok && window != nil && !reset.IsZero() {
		if pct, err := strconv.ParseFloat(n.Value, 64); err == nil {
			h.QuotaLow = &credentials.QuotaLow{Window: *window, RemainingPct: pct, ResetAt: reset}
		}
	}
	if rd.err != nil {
		return credentials.Health{}
	}
	return h
}

// PutHealth writes h as c's health in one conditional UpdateItem that sets
// or removes only the health attributes: only if the credential still
// exists at the revision c was read at and no request holds its key lock,
// so it never lands over a key change or a delete. It never touches
// revision or updated_at. Kind Conflict when the credential changed or is
// locked, NotFound when it is gone: the next probe tries again.
func (s *Store) PutHealth(ctx context.Context, c credentials.Credential, h credentials.Health) error {
	vals := healthValues(h)
	var set, remove []string
	names := map[string]string{}
	values := map[string]ddbtypes.AttributeValue{
		":rev": nAttr(c.Revision),
		":now": nAttr(time.Now().UnixMilli()),
	}
	for i, a := range HealthAttrs {
		n := "#h" + strconv.Itoa(i)
		names[n] = a
		if v, ok := vals[a]; ok {
			set = append(set, n+" = :h"+strconv.Itoa(i))
			values[":h"+strconv.Itoa(i)] = v
		} else {
			remove = append(remove, n)
		}
	}
	// The condition lets the write land only without a live lock; a dead
	// one (a request that died before unlocking) goes with it, as Patch
	// drops one: so the new image holds no lock, and the change events'
	// stream filter, which drops records whose new image holds key_lock,
	// passes the health change.
	remove = append(remove, lockAttr, lockUntilAttr, lockByAttr)
	expr := ""
	if len(set) > 0 {
		expr = "SET " + strings.Join(set, ", ")
	}
	expr += " REMOVE " + strings.Join(remove, ", ")
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.credTable,
		Key:              key(c.OrgID, credSK(c.ID)),
		UpdateExpression: aws.String(strings.TrimSpace(expr)),
		ConditionExpression: aws.String("attribute_exists(pk) AND revision = :rev AND (attribute_not_exists(" + lockAttr + ") OR " +
			lockUntilAttr + " < :now)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item == nil {
			return credentials.ErrNotFound()
		}
		return credentials.Errorf(credentials.Conflict, "credential %s changed since it was probed", c.ID)
	}
	if err != nil {
		return fmt.Errorf("dynamo: put health of %s: %w", c.ID, err)
	}
	return nil
}
