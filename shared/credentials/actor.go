package credentials

import "context"

type actorKey struct{}

// WithActor returns ctx carrying the subject (the JWT sub) on whose behalf
// the request changes credentials. The service stamps it on what it writes
// as created_by and updated_by; the change events name it as the actor.
func WithActor(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, actorKey{}, subject)
}

// ActorFrom returns the subject WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}
