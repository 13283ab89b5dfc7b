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
}

// writeError maps err to a status and a {"detail": ...} body. It is the one
// place an error is logged: into the request's access line (AccessLog), or
// on a line of its own for an internal error of a handler used without
// one. An internal error's text never reaches the client.
func writeError(ctx context.Context, log *slog.Logger, w http.ResponseWriter, err error) {
	logged := noteError(ctx, err)
	var ce *credentials.Error
	if !errors.As(err, &ce) || ce.Kind == credentials.Internal {
		if !logged {
			log.ErrorContext(ctx, "request failed", "err", err)
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"detail": "internal error"})
		return
	}
	writeJSON(w, statusOf[ce.Kind], map[string]any{"detail": ce.Detail})
}
