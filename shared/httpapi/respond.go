package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/acme/provider-credentials/shared/credentials"
)

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var statusOf = map[credentials.Kind]int{
	credentials.Internal:     http.StatusInternalServerError,
	credentials.Invalid:      http.StatusUnprocessableEntity,
	credentials.NotFound:     http.StatusNotFound,
	credentials.Conflict:     http.StatusConflict,
	credentials.Forbidden:    http.StatusForbidden,
	credentials.Unauthorized: http.StatusUnauthorized,
	credentials.TooLarge:     http.StatusRequestEntityTooLarge,
	credentials.Unavailable:  http.StatusServiceUnavailable,
}

// retryAfter is the Retry-After of a 503, in seconds: AWS throttling and
// brief outages clear on this scale, and the SDK has already backed off.
const retryAfter = "2"

// writeError maps err to a status and a {"detail": ...} body. It is the one
// place an error is logged: into the request's access line (AccessLog), or
// on a line of its own for an internal error or an outage of a handler used
// without one. An internal error's text never reaches the client.
func writeError(ctx context.Context, log *slog.Logger, w http.ResponseWriter, err error) {
	logged := noteError(ctx, err)
	var ce *credentials.Error
	kind := credentials.KindOf(err)
	if kind == credentials.Internal && dependencyOutage(err) {
		kind = credentials.Unavailable
	}
	switch {
	case kind == credentials.Unavailable:
		if !logged {
			log.WarnContext(ctx, "request failed: dependency unavailable", "err", err)
		}
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"detail": credentials.StorageUnavailable})
	case kind == credentials.Internal || !errors.As(err, &ce):
		if !logged {
			log.ErrorContext(ctx, "request failed", "err", err)
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"detail": "internal error"})
	default:
		writeJSON(w, statusOf[ce.Kind], map[string]any{"detail": ce.Detail})
	}
}
