// Package httpapi is the HTTP face of the service: one net/http handler per
// route, the organisation context from JWT claims, request decoding and the
// mapping of errors to statuses, all in one place.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/acme/provider-credentials/shared/credentials"
	"github.com/acme/provider-credentials/shared/liveusage"
)

// Route patterns, in net/http ServeMux syntax (the same as API Gateway's for
// these paths). template.yaml names each exactly once.
const (
	RouteList   = "GET /provider-credentials"
	RouteCreate = "POST /provider-credentials"
	RouteTest   = "POST /provider-credentials/test"
	RouteGet    = "GET /provider-credentials/{credential_id}"
	RouteUpdate = "PATCH /provider-credentials/{credential_id}"
	RouteUsage  = "GET /provider-credentials/{credential_id}/usage"
	RouteDelete = "DELETE /provider-credentials/{credential_id}"

	RouteRollback = "POST /provider-credentials/{credential_id}/rollback"
)

// Deps are what the credential handlers need.
type Deps struct {
	Service *credentials.Service
	Usage   *liveusage.Service // for the usage and test routes
	Auth    Auth
	Log     *slog.Logger
}

// handlerFunc is a route's logic: it writes a success or returns an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c Caller) error

// serve wraps fn with the org context check (admin or any member) and the
// error mapping, and mounts it on its own pattern. Anything else answers
// 404 as FastAPI does, so a function never answers without a body.
func serve(log *slog.Logger, a Auth, pattern string, admin bool, fn handlerFunc) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if rec := recordOf(r.Context()); rec != nil {
			rec.pattern = pattern
		}
		err := func() error {
			c, err := a.caller(r)
			if err != nil {
				return err
			}
			noteCaller(r.Context(), c)
			if admin && !c.Admin {
				return credentials.Errorf(credentials.Forbidden, "Organisation admin access required.")
			}
			// The actor of any write this request makes (created_by,
			// updated_by, the change events).
			r = r.WithContext(credentials.WithActor(r.Context(), c.Subject))
			return fn(w, r, c)
		}()
		if err != nil {
			writeError(r.Context(), log, w, err)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	})
	return mux
}

// pathID reads and normalises the credential_id path parameter.
func pathID(r *http.Request) (string, error) {
	id, ok := credentials.ParseID(r.PathValue("credential_id"))
	if !ok {
		return "", invalid(credentials.FieldError{Loc: []any{"path", "credential_id"},
			Msg: "Input should be a valid UUID", Type: "uuid_parsing"})
	}
	return id, nil
}

// ListCredentials serves GET /provider-credentials.
func ListCredentials(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteList, false, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		list, err := d.Service.List(r.Context(), c.OrgID)
		if err != nil {
			return err
		}
		if list == nil {
			list = []credentials.Credential{}
		}
		writeJSON(w, http.StatusOK, list)
		return nil
	})
}

// CreateCredential serves POST /provider-credentials.
func CreateCredential(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteCreate, true, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		o, err := decodeObject(w, r)
		if err != nil {
			return err
		}
		in := credentials.CreateInput{
			Provider:    o.str("provider"),
			AccountKey:  o.str("account_key"),
			DisplayName: o.optStr("display_name"),
			APIKey:      o.optStr("api_key"),
			BaseURL:     o.optStr("base_url"),
			Active:      o.optBool("active"),
		}
		if err := o.err(); err != nil {
			return err
		}
		verify, err := queryBool(r, "verify")
		if err != nil {
			return err
		}
		create := d.Service.Create
		if verify {
			create = d.Service.CreateVerified
		}
		cred, err := create(r.Context(), c.OrgID, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, cred)
		return nil
	})
}

// GetCredential serves GET /provider-credentials/{credential_id}.
func GetCredential(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteGet, false, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		cred, err := d.Service.Get(r.Context(), c.OrgID, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, cred)
		return nil
	})
}

// UpdateCredential serves PATCH /provider-credentials/{credential_id}.
func UpdateCredential(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteUpdate, true, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		o, err := decodeObject(w, r)
		if err != nil {
			return err
		}
		in := credentials.UpdateInput{
			DisplayName: o.optStr("display_name"),
			APIKey:      o.optStr("api_key"),
			BaseURL:     o.optStr("base_url"),
			Active:      o.optBool("active"),
		}
		if err := o.err(); err != nil {
			return err
		}
		verify, err := queryBool(r, "verify")
		if err != nil {
			return err
		}
		update := d.Service.Update
		if verify {
			update = d.Service.UpdateVerified
		}
		cred, err := update(r.Context(), c.OrgID, id, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, cred)
		return nil
	})
}

// DeleteCredential serves DELETE /provider-credentials/{credential_id}.
func DeleteCredential(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteDelete, true, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := d.Service.Delete(r.Context(), c.OrgID, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// RollbackCredential serves POST /provider-credentials/{credential_id}/rollback:
// the key that was current before the last rotation is current again.
func RollbackCredential(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteRollback, true, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		cred, err := d.Service.Rollback(r.Context(), c.OrgID, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, cred)
		return nil
	})
}

// GetUsage serves GET /provider-credentials/{credential_id}/usage.
func GetUsage(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteUsage, false, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		refresh, err := queryBool(r, "refresh")
		if err != nil {
			return err
		}
		body, err := d.Usage.Usage(r.Context(), c.OrgID, id, refresh)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, body)
		return nil
	})
}

// TestCredential serves POST /provider-credentials/test: it probes the
// given key and saves nothing.
func TestCredential(d Deps) http.Handler {
	return serve(d.Log, d.Auth, RouteTest, true, func(w http.ResponseWriter, r *http.Request, c Caller) error {
		o, err := decodeObject(w, r)
		if err != nil {
			return err
		}
		in := credentials.TestInput{
			Provider:   o.str("provider"),
			AccountKey: o.strOr("account_key", ""),
			APIKey:     o.optStr("api_key"),
			BaseURL:    o.optStr("base_url"),
		}
		if err := o.err(); err != nil {
			return err
		}
		in, err = in.Normalize(d.Service.CheckBaseURL())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d.Usage.Test(r.Context(), in))
		return nil
	})
}

// queryBool reads an optional boolean query parameter as FastAPI does.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	switch strings.ToLower(v) {
	case "", "false", "0", "no", "off", "f", "n":
		return false, nil
	case "true", "1", "yes", "on", "t", "y":
		return true, nil
	}
	return false, invalid(credentials.FieldError{Loc: []any{"query", name},
		Msg: "Input should be a valid boolean, unable to interpret input", Type: "bool_parsing"})
}
