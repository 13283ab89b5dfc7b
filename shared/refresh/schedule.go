package refresh

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"
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
