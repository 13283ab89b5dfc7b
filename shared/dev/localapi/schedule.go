package localapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/acme/provider-credentials/shared/dev/samtemplate"
	"github.com/acme/provider-credentials/shared/refresh"
)

// RefreshSchedule reads the refresh function's schedule (its first Schedule
// event, parameters at their defaults) and timeout from the template.
func RefreshSchedule(tpl *samtemplate.Template) (every, timeout time.Duration, err error) {
	fn, ok := tpl.Function(refresh.FunctionID)
	if !ok {
		return 0, 0, fmt.Errorf("localapi: template.yaml has no %s", refresh.FunctionID)
	}
	refs := tpl.ParameterValues(nil)
	for _, ev := range fn.Events {
		if ev.Type != "Schedule" {
			continue
		}
		expr, err := samtemplate.ResolveString(ev.Schedule, refs)
		if err != nil {
			return 0, 0, fmt.Errorf("localapi: %s schedule: %w", refresh.FunctionID, err)
		}
		if every, err = ParseRate(expr); err != nil {
			return 0, 0, err
		}
		break
	}
	if every == 0 {
		return 0, 0, fmt.Errorf("localapi: %s has no Schedule event", refresh.FunctionID)
	}
	t, err := samtemplate.ResolveString(fn.Properties["Timeout"], refs)
	if err != nil {
		return 0, 0, fmt.Errorf("localapi: %s timeout: %w", refresh.FunctionID, err)
	}
	secs, err := strconv.Atoi(t)
	if err != nil || secs <= 0 {
		return 0, 0, fmt.Errorf("localapi: %s timeout %q: want seconds", refresh.FunctionID, t)
	}
	return every, time.Duration(secs) * time.Second, nil
}

// ParseRate reads an EventBridge rate expression: "rate(5 minutes)".
func ParseRate(expr string) (time.Duration, error) {
	inner, ok := strings.CutPrefix(strings.TrimSpace(expr), "rate(")
	if inner, ok2 := strings.CutSuffix(inner, ")"); ok && ok2 {
		f := strings.Fields(inner)
		if len(f) == 2 {
			n, err := strconv.Atoi(f[0])
			unit := map[string]time.Duration{
				"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour,
				"day": 24 * time.Hour, "days": 24 * time.Hour,
			}[f[1]]
			if err == nil && n > 0 && unit > 0 && (n == 1) == !strings.HasSuffix(f[1], "s") {
				return time.Duration(n) * unit, nil
			}
		}
	}
	return 0, fmt.Errorf("localapi: schedule %q: want rate(N minutes|hours|days)", expr)
}
