package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
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

	mu     sync.Mutex
	done   bool       // the line is written: later logs go out on their own
	logged []string   // what the request's services logged (FoldLogs)
	worst  slog.Level // the highest level among them
}

// fold keeps a log record of the request's services for its access line;
// false when the line is already written.
func (rec *record) fold(r slog.Record, attrs []slog.Attr) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.done {
		return false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	add := func(a slog.Attr) { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Resolve()) }
	for _, a := range attrs {
		add(a)
	}
	r.Attrs(func(a slog.Attr) bool { add(a); return true })
	rec.logged = append(rec.logged, b.String())
	rec.worst = max(rec.worst, r.Level)
	return true
}

// FoldLogs wraps the handler of the logger an HTTP function's services log
// with (a failed compensation, a result not cached, a failed re-read):
// what they log while a request is being answered goes into that
// request's one access line (as "logged", raising its level), so that a
// request leaves exactly one line; outside a request it goes to h.
func FoldLogs(h slog.Handler) slog.Handler { return foldHandler{next: h} }

type foldHandler struct {
	next  slog.Handler
	attrs []slog.Attr
}

func (f foldHandler) Enabled(ctx context.Context, l slog.Level) bool { return f.next.Enabled(ctx, l) }

func (f foldHandler) Handle(ctx context.Context, r slog.Record) error {
	if rec := recordOf(ctx); rec != nil && rec.fold(r, f.attrs) {
		return nil
	}
	return f.next.Handle(ctx, r)
}

func (f foldHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return foldHandler{next: f.next.WithAttrs(as), attrs: append(append([]slog.Attr(nil), f.attrs...), as...)}
}

func (f foldHandler) WithGroup(name string) slog.Handler {
	return foldHandler{next: f.next.WithGroup(name), attrs: f.attrs}
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
		// A panic (a bug) still leaves its line, with what the request's
		// services logged before it, then goes on to the Lambda runtime.
		defer func() {
			if p := recover(); p != nil {
				rec.err = fmt.Errorf("panic: %v", p)
				sw.status = http.StatusInternalServerError
				writeLine(r, log, rec, sw.status, start, calls)
				panic(p)
			}
		}()
		h.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK // a handler that wrote nothing: net/http's default
		}
		writeLine(r, log, rec, status, start, calls)
	})
}

// writeLine writes a request's one access line.
func writeLine(r *http.Request, log *slog.Logger, rec *record, status int, start time.Time, calls *awscalls.Counter) {
	var reqID, route string
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok {
		reqID, route = rc.RequestID, rc.RouteKey
	}
	if route == "" {
		route = rec.pattern
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
	rec.mu.Lock()
	rec.done = true
	if len(rec.logged) > 0 {
		attrs = append(attrs, slog.Any("logged", rec.logged))
		level = max(level, rec.worst)
	}
	rec.mu.Unlock()
	log.LogAttrs(r.Context(), level, "request", attrs...)
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
