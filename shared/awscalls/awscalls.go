// Package awscalls counts the AWS calls made on behalf of one request: an
// SDK middleware (APIOption, added to the aws.Config of every function)
// increments the Counter the request's context carries, and the HTTP
// layer's access log reports it. A context without a Counter (the
// scheduled refresh, tools) is not counted.
package awscalls

import (
	"context"
	"sync/atomic"

	"github.com/aws/smithy-go/middleware"
)

// Counter counts AWS calls two ways. Operations are the SDK calls the code
// makes (one GetItem is one, however often it is retried): the figure the
// benchmarks hold each route to. Attempts are the requests actually sent,
// retries included: above Operations, AWS throttled or failed some.
type Counter struct {
	operations, attempts atomic.Int64
}

// Operations returns the SDK operations started so far.
func (c *Counter) Operations() int64 { return c.operations.Load() }

// Attempts returns the HTTP requests sent to AWS so far, retries included.
func (c *Counter) Attempts() int64 { return c.attempts.Load() }

type key struct{}

// WithCounter returns ctx carrying a new Counter, and the Counter.
func WithCounter(ctx context.Context) (context.Context, *Counter) {
	c := &Counter{}
	return context.WithValue(ctx, key{}, c), c
}

// FromContext returns the Counter ctx carries, or nil.
func FromContext(ctx context.Context) *Counter {
	c, _ := ctx.Value(key{}).(*Counter)
	return c
}

// APIOption adds the counting middleware to an SDK client's stack; put it
// in aws.Config.APIOptions. Operations are counted in the Initialize step
// (once per call), attempts at the end of the Finalize step, after the
// retry middleware (once per attempt sent).
func APIOption(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("awscalls.Operations",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if c := FromContext(ctx); c != nil {
				c.operations.Add(1)
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before); err != nil {
		return err
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("awscalls.Attempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if c := FromContext(ctx); c != nil {
				c.attempts.Add(1)
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}
