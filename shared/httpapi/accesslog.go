package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/acme/provider-credentials/shared/awscalls"
)

// record is what one request's access line says; the handler fills in
// what only it knows (the caller's organisation, the error).
type record struct {
	orgID   string
	pattern string // the route pattern, when API Gateway's context is missing
	err     error
}

type recordKey struct{}

func recordOf(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	return rec
}

// noteCaller and noteError record the caller's organisation and a
// request's error for its access line. noteError reports false when the
// request has no access line (a handler used without AccessLog), so the
// caller logs the error itself.
func noteCaller(ctx context.Context, c Caller) {
	if rec := recordOf(ctx); rec != nil {
		rec.orgID = c.OrgID
	}
}

func noteError(ctx context.Context, err error) bool {
	rec := recordOf(ctx)
	if rec != nil {
		rec.err = err
	}
	return rec != nil
}

// AccessLog wraps an HTTP function's handler so that every request logs
// exactly one line, when it is answered: API Gateway's request id
// (api_request_id; Lambda's own requestId is added by the Lambda log
// handler), the route key, the caller's organisation, the status, the
// duration, the AWS calls made (aws_calls: operations, each counted once
// however often the SDK retried it; aws_attempts: requests sent, retries
// included) and, for a failure, the error chain. The error of a 4xx is the
// reason shown to the client; a 5xx's is the internal chain, which never
// reaches the client. Neither holds a key nor a provider's body: keys are
// never in errors (redacted at the probe), and no body is logged.
func AccessLog(log *slog.Logger, h http.Handler) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &record{}
		ctx, calls := awscalls.WithCounter(context.WithValue(r.Context(), recordKey{}, rec))
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(ctx))

		var reqID, route string
		if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok {
			reqID, route = rc.RequestID, rc.RouteKey
		}
		if route == "" {
			route = rec.pattern
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK // a handler that wrote nothing: net/http's default
		}
		attrs := []slog.Attr{
			slog.String("api_request_id", reqID),
			slog.String("route", route),
			slog.String("org_id", rec.orgID),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("aws_calls", calls.Operations()),
			slog.Int64("aws_attempts", calls.Attempts()),
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if rec.err != nil {
			attrs = append(attrs, slog.String("err", rec.err.Error()))
		}
		log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the adapter's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
