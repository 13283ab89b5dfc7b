package refresh

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/acme/provider-credentials/shared/samtemplate"
)

// FunctionID is the refresh function's logical id in template.yaml.
const FunctionID = "RefreshUsageFunction"

// Event is what a schedule delivers: the EventBridge scheduled event
// itself, or, when the schedule has an Input, that JSON in its place
// ({"segment": N}: one schedule per segment). No segment means 0.
type Event struct {
	events.EventBridgeEvent
	Segment int `json:"segment"`
}

// Handle is the Lambda handler: one run of the event's segment, stopping
// StopBefore ahead of the invocation's deadline (in ctx).
func (r *Runner) Handle(ctx context.Context, ev Event) error {
	_, err := r.Run(ctx, ev.Segment)
	return err
}

// RunAll runs every segment in turn, each with its own timeout as if
// invoked alone (local runs: make run, make refresh).
func (r *Runner) RunAll(ctx context.Context, timeout time.Duration) error {
	var first error
	for seg := range r.cfg.TotalSegments {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		_, err := r.Run(sctx, seg)
		cancel()
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Loop runs RunAll every interval until ctx ends, as the schedule would;
// the first run is one interval from now.
func (r *Runner) Loop(ctx context.Context, every, timeout time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.RunAll(ctx, timeout); err != nil && ctx.Err() == nil {
				r.log.ErrorContext(ctx, "refresh failed", "err", err)
			}
		}
	}
}

// LocalSchedule reads the refresh function's schedule (its first Schedule
// event, parameters at their defaults) and timeout from the template.
func LocalSchedule(tpl *samtemplate.Template) (every, timeout time.Duration, err error) {
	fn, ok := tpl.Function(FunctionID)
	if !ok {
		return 0, 0, fmt.Errorf("refresh: template.yaml has no %s", FunctionID)
	}
	refs := tpl.ParameterValues(nil)
	for _, ev := range fn.Events {
		if ev.Type != "Schedule" {
			continue
		}
		expr, err := samtemplate.ResolveString(ev.Schedule, refs)
		if err != nil {
			return 0, 0, fmt.Errorf("refresh: %s schedule: %w", FunctionID, err)
		}
		if every, err = ParseRate(expr); err != nil {
			return 0, 0, err
		}
		break
	}
	if every == 0 {
		return 0, 0, fmt.Errorf("refresh: %s has no Schedule event", FunctionID)
	}
	t, err := samtemplate.ResolveString(fn.Properties["Timeout"], refs)
	if err != nil {
		return 0, 0, fmt.Errorf("refresh: %s timeout: %w", FunctionID, err)
	}
	secs, err := strconv.Atoi(t)
	if err != nil || secs <= 0 {
		return 0, 0, fmt.Errorf("refresh: %s timeout %q: want seconds", FunctionID, t)
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
	return 0, fmt.Errorf("refresh: schedule %q: want rate(N minutes|hours|days)", expr)
}
